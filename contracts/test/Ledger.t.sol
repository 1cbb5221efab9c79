// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture, TestLib} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {MockWallet, GasGuzzlerWallet} from "./utils/MockWallet.sol";
import {Metering} from "../Metering.sol";
import {ModelRegistry} from "../ModelRegistry.sol";
import {ExecutionLedger} from "../ExecutionLedger.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @notice Targeted tests of ExecutionLedger: the signed request, each rejection reason, batches, escrow and credits.
contract LedgerTest is Fixture {
    uint256 internal constant ALICE_PK = 0xA11CE;
    uint256 internal constant BOB_PK = 0xB0B;
    address internal alice;
    address internal bob;
    uint256 internal model;
    uint256 internal privateModel;
    uint256 internal constant PRICE = 1e18;

    function setUp() public {
        deployAll();
        vm.warp(1_700_000_000);
        alice = vm.addr(ALICE_PK);
        bob = vm.addr(BOB_PK);
        model = registerAs(creator, fixedModel(keccak256("model"), uint128(PRICE), 0));
        ModelRegistry.Registration memory p = fixedModel(keccak256("private"), uint128(PRICE), 0);
        p.access = 1;
        privateModel = registerAs(creator, p);
        fund(alice, 100e18);
        fund(bob, 100e18);
    }

    function _m() internal pure returns (Metering.Meter memory) {
        return TestLib.meter(10, 1000, 100, 1000, 1);
    }

    function _q(address user, uint256 modelId, uint256 nonce) internal view returns (ExecutionLedger.InferenceRequest memory) {
        return TestLib.request(user, modelId, nonce, type(uint256).max, block.timestamp + 1 hours, 0);
    }

    function _id(ExecutionLedger.InferenceRequest memory q) internal view returns (bytes32) {
        return TestLib.digest(q, block.chainid, address(ledger));
    }

    /// @dev Records one item and returns its rejection reason (0 when executed).
    function _recordOne(ExecutionLedger.Item memory it) internal returns (uint8) {
        vm.recordLogs();
        record(one(it));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 id = _id(it.request);
        uint8 reason = rejectReason(logs, id);
        (bool executed,) = executedCost(logs, id);
        vm.assertTrue(executed != (reason != 0), "item must be executed xor rejected");
        return reason;
    }

    function _cost() internal pure returns (uint256) {
        return Metering.cost(defaultRates(), 1, PRICE, _m(), 0);
    }

    // The execution id is the EIP-712 digest of the request under the documented domain and type string.
    function test_executionIdIsTheDocumentedDigest() public view {
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 7);
        vm.assertEq(ledger.executionId(q), _id(q), "executionId");
        vm.assertEq(ledger.domainSeparator(), TestLib.domainSeparator(block.chainid, address(ledger)), "domain");
    }

    // A valid item is executed: nonce used, count incremented, escrow debited and credits owed.
    function test_validItemExecutes() public {
        uint256 escrow = ledger.escrowOf(alice);
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 1), _m())), 0, "rejected");
        vm.assertTrue(ledger.nonceUsed(alice, 1), "nonce not used");
        vm.assertEq(ledger.usageCount(model, alice), 1, "usage count");
        vm.assertEq(escrow - ledger.escrowOf(alice), _cost(), "escrow debit");
        vm.assertEq(ledger.totalOwed(), _cost(), "total owed");
    }

    // A signature over the same request for another chain id is rejected with BAD_SIGNATURE (5).
    function test_signatureForAnotherChainRejected() public {
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 1);
        ExecutionLedger.Item memory it = item(ALICE_PK, q, _m());
        it.signature = TestLib.signDigest(ALICE_PK, TestLib.digest(q, block.chainid + 1, address(ledger)));
        vm.assertEq(_recordOne(it), 5, "reason");
        vm.assertFalse(ledger.nonceUsed(alice, 1), "nonce consumed by a rejected item");
    }

    // A signature for another ledger address is rejected with BAD_SIGNATURE (5), even for a second deployed ledger.
    function test_signatureForAnotherLedgerRejected() public {
        ExecutionLedger other = newLedger();
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 1);
        ExecutionLedger.Item memory it = item(ALICE_PK, q, _m());
        it.signature = TestLib.signDigest(ALICE_PK, other.executionId(q));
        vm.assertEq(_recordOne(it), 5, "reason");
    }

    // The chain id is read at verification time: after a fork to another chain id, old signatures no longer verify.
    function test_signatureAfterChainIdChangeRejected() public {
        ExecutionLedger.Item memory it = item(ALICE_PK, _q(alice, model, 1), _m());
        vm.chainId(block.chainid + 7);
        vm.recordLogs();
        record(one(it));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(rejectReason(logs, TestLib.digest(it.request, block.chainid, address(ledger))), 5, "reason");
    }

    // A signature by someone else, a malformed signature and an empty signature are all BAD_SIGNATURE (5).
    function test_badSignaturesRejected() public {
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 1);
        ExecutionLedger.Item memory it = item(BOB_PK, q, _m());
        vm.assertEq(_recordOne(it), 5, "other signer");
        it.signature = hex"1234";
        vm.assertEq(_recordOne(it), 5, "short signature");
        it.signature = "";
        vm.assertEq(_recordOne(it), 5, "empty signature");
        it = item(ALICE_PK, q, _m());
        it.request.maxCost -= 1; // a field changed after signing
        vm.assertEq(_recordOne(it), 5, "tampered request");
    }

    // A nonce used by an executed item is rejected with NONCE_USED (2), even with different request fields.
    function test_reusedNonceRejected() public {
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 42), _m())), 0, "first");
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 42), _m())), 2, "replay");
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 42);
        q.inputDigest = keccak256("other input");
        vm.assertEq(_recordOne(item(ALICE_PK, q, _m())), 2, "same nonce, new request");
        // Nonces are unordered and per user: another nonce of alice and the same nonce of bob both pass.
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 41), _m())), 0, "lower nonce");
        vm.assertEq(_recordOne(item(BOB_PK, _q(bob, model, 42), _m())), 0, "bob's nonce 42");
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 2 ** 255 + 42), _m())), 0, "huge nonce (another bitmap word)");
    }

    // The same nonce twice in one batch: the first executes, the second is NONCE_USED (2).
    function test_duplicateNonceInOneBatch() public {
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](2);
        items[0] = item(ALICE_PK, _q(alice, model, 5), _m());
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 5);
        q.paramsHash = keccak256("different");
        items[1] = item(ALICE_PK, q, _m());
        vm.recordLogs();
        record(items);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (bool executed,) = executedCost(logs, _id(items[0].request));
        vm.assertTrue(executed, "first not executed");
        vm.assertEq(rejectReason(logs, _id(q)), 2, "second");
    }

    // A request past its deadline is EXPIRED (1); a request at exactly its deadline still executes.
    function test_expiredRejected() public {
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 1);
        q.deadline = block.timestamp - 1;
        vm.assertEq(_recordOne(item(ALICE_PK, q, _m())), 1, "expired");
        q = _q(alice, model, 2);
        q.deadline = block.timestamp;
        vm.assertEq(_recordOne(item(ALICE_PK, q, _m())), 0, "at the deadline");
    }

    // Checks run in the documented order: an expired item with a bad signature and an unknown model is EXPIRED (1).
    function test_firstFailureWins() public {
        ExecutionLedger.InferenceRequest memory q = _q(alice, 999, 1);
        q.deadline = block.timestamp - 1;
        q.priority = 9;
        ExecutionLedger.Item memory it = item(BOB_PK, q, _m());
        vm.assertEq(_recordOne(it), 1, "expired first");
        q.deadline = block.timestamp;
        it = item(BOB_PK, q, _m());
        vm.assertEq(_recordOne(it), 3, "then unknown model");
        q.modelId = model;
        it = item(BOB_PK, q, _m());
        vm.assertEq(_recordOne(it), 4, "then priority");
        q.priority = 0;
        q.maxCost = 0;
        it = item(BOB_PK, q, _m());
        vm.assertEq(_recordOne(it), 5, "then signature");
    }

    // Only an operator may call recordBatch; others revert with AccessControlUnauthorizedAccount.
    function test_nonOperatorCannotRecord() public {
        ExecutionLedger.Item[] memory items = one(item(ALICE_PK, _q(alice, model, 1), _m()));
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, ledger.OPERATOR_ROLE()
            )
        );
        vm.prank(alice);
        ledger.recordBatch(items);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), ledger.OPERATOR_ROLE()
            )
        );
        ledger.recordBatch(items); // even the admin is not an operator
    }

    // A ledger with no rates refuses to record (NoRates).
    function test_noRatesReverts() public {
        ExecutionLedger fresh = newLedger();
        fresh.grantRole(fresh.OPERATOR_ROLE(), operator);
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](0);
        vm.expectRevert(ExecutionLedger.NoRates.selector);
        vm.prank(operator);
        fresh.recordBatch(items);
    }

    // An unknown model id is UNKNOWN_MODEL (3).
    function test_unknownModelRejected() public {
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, 999, 1), _m())), 3, "reason");
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, 0, 2), _m())), 3, "model 0");
    }

    // A priority above 3 is BAD_PRIORITY (4).
    function test_badPriorityRejected() public {
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 1);
        q.priority = 4;
        vm.assertEq(_recordOne(item(ALICE_PK, q, _m())), 4, "reason");
    }

    // An ALLOWLIST model refuses a user neither owner nor granted (6); grant, owner, revoke behave as documented.
    function test_allowlist() public {
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, privateModel, 1), _m())), 6, "not granted");
        vm.prank(creator);
        registry.grantAccess(privateModel, alice);
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, privateModel, 2), _m())), 0, "granted");
        vm.prank(creator);
        registry.revokeAccess(privateModel, alice);
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, privateModel, 3), _m())), 6, "revoked");
        // The owner always has access.
        uint256 ownerPk = 0xC0FFEE;
        address owner = vm.addr(ownerPk);
        ModelRegistry.Registration memory p = fixedModel(keccak256("owned"), uint128(PRICE), 0);
        p.access = 1;
        uint256 owned = registerAs(owner, p);
        fund(owner, 10e18);
        vm.assertEq(_recordOne(item(ownerPk, _q(owner, owned, 1), _m())), 0, "owner");
    }

    // A cost above the signed maxCost is COST_ABOVE_MAX (7); exactly maxCost is accepted.
    function test_costAboveMaxRejected() public {
        ExecutionLedger.InferenceRequest memory q = _q(alice, model, 1);
        q.maxCost = _cost() - 1;
        vm.assertEq(_recordOne(item(ALICE_PK, q, _m())), 7, "above max");
        q.maxCost = _cost();
        vm.assertEq(_recordOne(item(ALICE_PK, q, _m())), 0, "exactly max");
    }

    // A cost above the available escrow is INSUFFICIENT_ESCROW (8); nothing is debited.
    function test_insufficientEscrowRejected() public {
        uint256 pk = 0xCAFE;
        address carol = vm.addr(pk);
        fund(carol, _cost() - 1);
        vm.assertEq(_recordOne(item(pk, _q(carol, model, 1), _m())), 8, "reason");
        vm.assertEq(ledger.escrowOf(carol), _cost() - 1, "escrow touched");
        fund(carol, 1);
        vm.assertEq(_recordOne(item(pk, _q(carol, model, 2), _m())), 0, "exact escrow");
        vm.assertEq(ledger.escrowOf(carol), 0, "escrow left");
    }

    // A bad item in the middle of a batch is rejected while the items before and after it execute.
    function test_badItemInTheMiddleDoesNotStopTheBatch() public {
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](5);
        items[0] = item(ALICE_PK, _q(alice, model, 1), _m());
        items[1] = item(BOB_PK, _q(alice, model, 2), _m()); // bad signature
        items[2] = item(BOB_PK, _q(bob, 777, 3), _m()); // unknown model
        items[3] = item(ALICE_PK, _q(alice, privateModel, 4), _m()); // no access
        items[4] = item(BOB_PK, _q(bob, model, 5), _m());
        uint256 escrowA = ledger.escrowOf(alice);
        uint256 escrowB = ledger.escrowOf(bob);
        vm.recordLogs();
        record(items);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (bool e0,) = executedCost(logs, _id(items[0].request));
        (bool e4,) = executedCost(logs, _id(items[4].request));
        vm.assertTrue(e0 && e4, "good items not executed");
        vm.assertEq(rejectReason(logs, _id(items[1].request)), 5, "item 1");
        vm.assertEq(rejectReason(logs, _id(items[2].request)), 3, "item 2");
        vm.assertEq(rejectReason(logs, _id(items[3].request)), 6, "item 3");
        vm.assertEq(escrowA - ledger.escrowOf(alice), _cost(), "alice debit");
        vm.assertEq(escrowB - ledger.escrowOf(bob), _cost(), "bob debit");
        vm.assertFalse(ledger.nonceUsed(alice, 2), "rejected nonce consumed");
    }

    // An EIP-1271 wallet's signature (its owner's ECDSA signature, checked by the wallet) is accepted; a stranger's is not.
    function test_erc1271WalletAccepted() public {
        uint256 ownerPk = 0x0A0E;
        MockWallet wallet = new MockWallet(vm.addr(ownerPk));
        token.mint(address(wallet), 10e18);
        wallet.approveToken(address(token), address(ledger), 10e18);
        vm.prank(address(wallet));
        ledger.deposit(10e18);
        vm.assertEq(_recordOne(item(ownerPk, _q(address(wallet), model, 1), _m())), 0, "wallet signature");
        vm.assertEq(_recordOne(item(BOB_PK, _q(address(wallet), model, 2), _m())), 5, "stranger signature");
    }

    // A wallet whose check burns all its gas is capped (ERC1271_GAS) and rejected (5); the rest of the batch executes.
    function test_gasGuzzlingWalletDoesNotStarveTheBatch() public {
        GasGuzzlerWallet w = new GasGuzzlerWallet();
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](2);
        items[0] = item(BOB_PK, _q(address(w), model, 1), _m());
        items[1] = item(ALICE_PK, _q(alice, model, 1), _m());
        vm.recordLogs();
        vm.prank(operator);
        ledger.recordBatch{gas: 2_000_000}(items);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(rejectReason(logs, _id(items[0].request)), 5, "guzzler");
        (bool e,) = executedCost(logs, _id(items[1].request));
        vm.assertTrue(e, "next item not executed");
    }

    // TIERED pricing charges the tier of the user's prior executions of the model, counted by the ledger.
    function test_tieredPricingFollowsUsage() public {
        ModelRegistry.Registration memory p = fixedModel(keccak256("tiered"), 0, 0);
        p.pricingKind = 1;
        p.thresholds = new uint64[](3);
        p.prices = new uint128[](3);
        (p.thresholds[0], p.thresholds[1], p.thresholds[2]) = (0, 2, 5);
        (p.prices[0], p.prices[1], p.prices[2]) = (3e18, 2e18, 1e18);
        uint256 tiered = registerAs(creator, p);
        uint128[6] memory wantBase = [uint128(3e18), 3e18, 2e18, 2e18, 2e18, 1e18];
        for (uint256 i = 0; i < 6; i++) {
            uint256 quoted = ledger.quote(tiered, alice, _m(), 0);
            uint256 escrow = ledger.escrowOf(alice);
            vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, tiered, 100 + i), _m())), 0, "rejected");
            vm.assertEq(escrow - ledger.escrowOf(alice), Metering.cost(defaultRates(), 1, wantBase[i], _m(), 0), "tier");
            vm.assertEq(escrow - ledger.escrowOf(alice), quoted, "quote");
        }
        // Bob's count is his own.
        uint256 escrowB = ledger.escrowOf(bob);
        vm.assertEq(_recordOne(item(BOB_PK, _q(bob, tiered, 1), _m())), 0, "bob");
        vm.assertEq(escrowB - ledger.escrowOf(bob), Metering.cost(defaultRates(), 1, 3e18, _m(), 0), "bob's tier");
    }

    // A batch uses the rates current at recording; old versions stay readable with ratesAt.
    function test_ratesVersioning() public {
        Metering.Rates memory r = defaultRates();
        vm.assertEq(keccak256(abi.encode(ledger.ratesAt(1))), keccak256(abi.encode(r)), "version 1 != defaultRates");
        r.gpuRate = 5e9;
        vm.assertEq(ledger.setRates(r), 2, "version");
        vm.assertEq(ledger.ratesAt(1).gpuRate, defaultRates().gpuRate, "v1 kept");
        vm.assertEq(ledger.ratesAt(2).gpuRate, 5e9, "v2");
        vm.expectRevert(abi.encodeWithSelector(ExecutionLedger.UnknownRatesVersion.selector, uint32(3)));
        ledger.ratesAt(3);
        uint256 escrow = ledger.escrowOf(alice);
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 1), _m())), 0, "rejected");
        vm.assertEq(escrow - ledger.escrowOf(alice), Metering.cost(r, 1, PRICE, _m(), 0), "new rates not used");
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, ledger.GOVERNOR_ROLE())
        );
        vm.prank(alice);
        ledger.setRates(r);
    }

    // Escrow withdrawal waits for the delay, pays min(requested, escrow), and the escrow stays chargeable meanwhile.
    function test_escrowWithdrawalDelay() public {
        // via-IR may reuse one TIMESTAMP read across the call, so times are kept in locals.
        uint256 t0 = block.timestamp;
        vm.prank(alice);
        ledger.requestWithdrawal(98e18);
        vm.expectRevert(
            abi.encodeWithSelector(ExecutionLedger.WithdrawalLocked.selector, uint64(t0 + 1 hours))
        );
        vm.prank(alice);
        ledger.executeWithdrawal();
        // Still chargeable during the delay.
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 1), _m())), 0, "charge during delay");
        vm.warp(t0 + 1 hours);
        uint256 balance = token.balanceOf(alice);
        vm.prank(alice);
        uint256 paid = ledger.executeWithdrawal();
        vm.assertEq(paid, 98e18, "paid");
        vm.assertEq(token.balanceOf(alice) - balance, 98e18, "balance");
        vm.assertEq(ledger.escrowOf(alice), 2e18 - _cost(), "escrow left");
        // A request above the escrow pays the whole escrow.
        vm.prank(alice);
        ledger.requestWithdrawal(50e18);
        vm.warp(t0 + 2 hours);
        vm.prank(alice);
        vm.assertEq(ledger.executeWithdrawal(), 2e18 - _cost(), "capped at escrow");
        vm.expectRevert(ExecutionLedger.NoWithdrawalPending.selector);
        vm.prank(alice);
        ledger.executeWithdrawal();
        vm.assertEq(
            ledger.totalDeposited(), ledger.totalEscrow() + ledger.totalOwed() + ledger.totalPaidOut(), "conservation"
        );
    }

    // Credits are pulled with withdraw(); nothing owed reverts ZeroAmount.
    function test_withdrawCredits() public {
        vm.assertEq(_recordOne(item(ALICE_PK, _q(alice, model, 1), _m())), 0, "rejected");
        uint256 owedCreator = ledger.owed(creator);
        vm.assertGt(owedCreator, 0, "creator owed nothing");
        vm.prank(creator);
        vm.assertEq(ledger.withdraw(), owedCreator, "withdrawn");
        vm.assertEq(token.balanceOf(creator), owedCreator, "balance");
        vm.expectRevert(ExecutionLedger.ZeroAmount.selector);
        vm.prank(creator);
        ledger.withdraw();
        vm.prank(operator);
        ledger.withdraw();
        vm.prank(treasury);
        ledger.withdraw();
        vm.assertEq(ledger.totalOwed(), 0, "owed left");
        vm.assertEq(token.balanceOf(address(ledger)), ledger.totalEscrow(), "ledger balance");
    }

    // Zero deposits and zero withdrawal requests revert.
    function test_zeroAmounts() public {
        vm.expectRevert(ExecutionLedger.ZeroAmount.selector);
        vm.prank(alice);
        ledger.deposit(0);
        vm.expectRevert(ExecutionLedger.ZeroAmount.selector);
        vm.prank(alice);
        ledger.requestWithdrawal(0);
    }
}
