// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture, TestLib} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {Metering} from "../Metering.sol";
import {ExecutionLedger} from "../ExecutionLedger.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @notice What each party can do (docs/SECURITY.md): role-gated calls, funds that only their owner moves,
/// and what an operator can and cannot do to a user's signed request.
contract AccessTest is Fixture {
    uint256 internal constant ALICE_PK = 0xA11CE;
    address internal alice;
    address internal bob = address(0xB0B);
    address internal operatorB = address(0x0FE2);
    uint256 internal model;
    uint256 internal constant PRICE = 1e18;

    function setUp() public {
        deployAll();
        vm.warp(1_700_000_000);
        alice = vm.addr(ALICE_PK);
        model = registerAs(creator, fixedModel(keccak256("model"), uint128(PRICE), 0));
        fund(alice, 100e18);
        ledger.grantRole(ledger.OPERATOR_ROLE(), operatorB);
    }

    function _q(uint256 nonce) internal view returns (ExecutionLedger.InferenceRequest memory) {
        return TestLib.request(alice, model, nonce, type(uint256).max, block.timestamp + 1 hours, 0);
    }

    function _m() internal pure returns (Metering.Meter memory) {
        return TestLib.meter(10, 1000, 100, 1000, 1);
    }

    function _unauthorized(address who, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role);
    }

    function _recordAs(address op, ExecutionLedger.Item memory it) internal returns (Vm.Log[] memory) {
        vm.recordLogs();
        vm.prank(op);
        ledger.recordBatch(one(it));
        return vm.getRecordedLogs();
    }

    // Rates, treasury and withdrawal delay are the governor's alone: an operator or a user reverts.
    function test_onlyGovernorGoverns() public {
        bytes32 role = ledger.GOVERNOR_ROLE();
        Metering.Rates memory r = defaultRates();
        vm.startPrank(operator);
        vm.expectRevert(_unauthorized(operator, role));
        ledger.setRates(r);
        vm.expectRevert(_unauthorized(operator, role));
        ledger.setTreasury(operator);
        vm.expectRevert(_unauthorized(operator, role));
        ledger.setWithdrawalDelay(0);
        vm.stopPrank();
        vm.prank(alice);
        vm.expectRevert(_unauthorized(alice, role));
        ledger.setWithdrawalDelay(0);
        vm.assertEq(ledger.treasury(), treasury, "treasury moved");
        vm.assertEq(uint256(ledger.withdrawalDelay()), 1 hours, "delay moved");
        ledger.setTreasury(dao);
        vm.assertEq(ledger.treasury(), dao, "governor cannot set the treasury");
    }

    // Only a minter mints $ART.
    function test_onlyMinterMints() public {
        bytes32 minter = token.MINTER_ROLE(); // read first: a call in the arguments would take the prank
        vm.prank(alice);
        vm.expectRevert(_unauthorized(alice, minter));
        token.mint(alice, 1);
        vm.prank(operator);
        vm.expectRevert(_unauthorized(operator, minter));
        token.mint(operator, 1);
    }

    // Roles are granted and revoked by each contract's admin only: an operator cannot promote itself or others.
    function test_onlyAdminGrantsRoles() public {
        bytes32 admin = ledger.DEFAULT_ADMIN_ROLE();
        bytes32 governorRole = ledger.GOVERNOR_ROLE();
        bytes32 operatorRole = ledger.OPERATOR_ROLE();
        bytes32 minterRole = token.MINTER_ROLE();
        bytes32 curatorRole = registry.CURATOR_ROLE();
        bytes32 rewardsRole = distributor.REWARDS_ROLE();
        bytes memory refused = _unauthorized(operator, admin);
        vm.startPrank(operator);
        vm.expectRevert(refused);
        ledger.grantRole(governorRole, operator);
        vm.expectRevert(refused);
        ledger.grantRole(operatorRole, bob);
        vm.expectRevert(refused);
        ledger.revokeRole(operatorRole, operatorB);
        vm.expectRevert(refused);
        token.grantRole(minterRole, operator);
        vm.expectRevert(refused);
        registry.grantRole(curatorRole, operator);
        vm.expectRevert(refused);
        distributor.grantRole(rewardsRole, operator);
        vm.stopPrank();
        // The admin revokes an operator, which can then no longer record.
        ledger.revokeRole(operatorRole, operatorB);
        ExecutionLedger.Item[] memory items = one(item(ALICE_PK, _q(1), _m()));
        vm.expectRevert(_unauthorized(operatorB, operatorRole));
        vm.prank(operatorB);
        ledger.recordBatch(items);
    }

    // Escrow and credits move only for their owner: another account's withdrawal calls touch nothing of alice's.
    function test_fundsMoveOnlyForTheirOwner() public {
        record(one(item(ALICE_PK, _q(1), _m())));
        uint256 escrow = ledger.escrowOf(alice);
        uint256 owedCreator = ledger.owed(creator);
        vm.prank(alice);
        ledger.requestWithdrawal(escrow);
        vm.warp(block.timestamp + 2 hours);
        vm.prank(bob);
        vm.expectRevert(ExecutionLedger.NoWithdrawalPending.selector);
        ledger.executeWithdrawal();
        vm.prank(bob);
        vm.expectRevert(ExecutionLedger.ZeroAmount.selector);
        ledger.withdraw();
        vm.assertEq(ledger.escrowOf(alice), escrow, "alice's escrow moved");
        vm.assertEq(ledger.owed(creator), owedCreator, "creator's credit moved");
        vm.assertEq(token.balanceOf(bob), 0, "bob was paid");
    }

    // The same signed item sent again (by the same or another operator) is NONCE_USED (2) and charged once.
    function test_replayedItemIsChargedOnce() public {
        ExecutionLedger.Item memory it = item(ALICE_PK, _q(7), _m());
        bytes32 id = TestLib.digest(it.request, block.chainid, address(ledger));
        (bool executed, uint256 cost) = executedCost(_recordAs(operator, it), id);
        vm.assertTrue(executed, "first not executed");
        uint256 escrow = ledger.escrowOf(alice);
        uint256 owed = ledger.totalOwed();
        vm.assertEq(rejectReason(_recordAs(operator, it), id), 2, "replay by the same operator");
        vm.assertEq(rejectReason(_recordAs(operatorB, it), id), 2, "replay by another operator");
        vm.assertEq(ledger.escrowOf(alice), escrow, "charged again");
        vm.assertEq(ledger.totalOwed(), owed, "credited again");
        vm.assertEq(ledger.usageCount(model, alice), 1, "counted again");
        vm.assertEq(100e18 - escrow, cost, "charged other than the cost");
    }

    // Whatever meter an operator reports, the user pays at most the signed maxCost, and nothing when refused.
    function testFuzz_chargeNeverAboveMaxCost(
        uint64 units, uint64 gpu, uint64 latency, uint64 storageBytes, uint32 load, uint256 maxCost
    ) public {
        // Up to ~1e12 per field keeps the cost within a funded escrow's order of magnitude.
        Metering.Meter memory m = TestLib.meter(
            uint64(bound(units, 0, 1e12)), uint64(bound(gpu, 0, 1e12)), uint64(bound(latency, 0, 1e12)),
            uint64(bound(storageBytes, 0, 1e12)), uint32(bound(load, 0, 1000))
        );
        ExecutionLedger.InferenceRequest memory q = _q(1);
        q.maxCost = bound(maxCost, 0, 1e22);
        ExecutionLedger.Item memory it = item(ALICE_PK, q, m);
        bytes32 id = TestLib.digest(q, block.chainid, address(ledger));
        uint256 escrow = ledger.escrowOf(alice);
        Vm.Log[] memory logs = _recordAs(operator, it);
        (bool executed, uint256 cost) = executedCost(logs, id);
        uint256 charged = escrow - ledger.escrowOf(alice);
        if (executed) {
            vm.assertLe(cost, q.maxCost, "cost above maxCost");
            vm.assertEq(charged, cost, "charged other than the cost");
        } else {
            uint8 reason = rejectReason(logs, id);
            vm.assertTrue(reason == 7 || reason == 8, "refused for another reason");
            vm.assertEq(charged, 0, "refused but charged");
            vm.assertFalse(ledger.nonceUsed(alice, 1), "refused but nonce used");
        }
    }

    // A request is not bound to an operator: one that an operator holds back can be recorded by another, which
    // is credited as the operator; the nonce stays unused until an item carrying it executes.
    function test_aWithheldRequestCanBeRecordedByAnotherOperator() public {
        ExecutionLedger.Item memory it = item(ALICE_PK, _q(9), _m());
        bytes32 id = TestLib.digest(it.request, block.chainid, address(ledger));
        vm.assertFalse(ledger.nonceUsed(alice, 9), "nonce used before any record");
        Vm.Log[] memory logs = _recordAs(operatorB, it);
        (bool executed,) = executedCost(logs, id);
        vm.assertTrue(executed, "not executed by the second operator");
        Credit[] memory c = credits(logs, id);
        bool operatorBPaid;
        for (uint256 i = 0; i < c.length; i++) {
            if (c[i].role == 1) operatorBPaid = c[i].recipient == operatorB;
        }
        vm.assertTrue(operatorBPaid, "the recording operator is not the one credited");
        vm.assertGt(ledger.owed(operatorB), 0, "operator B owed nothing");
        vm.assertEq(ledger.owed(operator), 0, "the withholding operator was paid");
    }

    // A request past its deadline cannot be charged: delay is bounded by the deadline the user signed.
    function test_aDelayedRequestCannotBeChargedAfterItsDeadline() public {
        ExecutionLedger.Item memory it = item(ALICE_PK, _q(3), _m());
        bytes32 id = TestLib.digest(it.request, block.chainid, address(ledger));
        vm.warp(it.request.deadline + 1);
        vm.assertEq(rejectReason(_recordAs(operator, it), id), 1, "not EXPIRED");
        vm.assertEq(ledger.escrowOf(alice), 100e18, "charged after the deadline");
        vm.assertFalse(ledger.nonceUsed(alice, 3), "nonce used by an expired item");
    }
}
