// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture, TestLib} from "./utils/Fixture.sol";
import {Reference} from "./utils/Reference.sol";
import {Vm} from "./utils/Vm.sol";
import {Metering} from "../Metering.sol";
import {ModelRegistry} from "../ModelRegistry.sol";
import {ExecutionLedger} from "../ExecutionLedger.sol";

/// @notice Fuzz tests of full recordBatch settlement over random remix chains, shares, DAO shares, rates and meters.
contract SettlementTest is Fixture {
    uint256 internal constant USER_PK = 0xA11CE;
    address internal user;
    address[3] internal pool = [address(0xB0B1), address(0xB0B2), address(0xB0B3)];

    function setUp() public {
        deployAll();
        user = vm.addr(USER_PK);
        fund(user, 1e30);
    }

    struct Chain {
        uint256 modelId;
        address[] owners; // owners[0] owns the executed model, owners[depth] the original
        uint256[] shares; // shares[k]: remixShareBps of owners[k]'s model
        uint8 sizeClass;
        uint256 price;
    }

    function _share(uint256 h) internal pure returns (uint256) {
        uint256 pick = (h >> 128) % 8;
        if (pick == 0) return 0;
        if (pick == 1) return 10_000;
        return h % 10_001;
    }

    function _registerChain(uint256 seed, uint256 depth, uint16 daoBps) internal returns (Chain memory c) {
        c.owners = new address[](depth + 1);
        c.shares = new uint256[](depth + 1);
        c.sizeClass = uint8(seed % 4);
        c.price = bound(uint256(keccak256(abi.encode(seed, "price"))), 0, 1e24);
        uint64 parent = 0;
        for (uint256 level = 0; level <= depth; level++) {
            uint256 h = uint256(keccak256(abi.encode(seed, level)));
            ModelRegistry.Registration memory p;
            p.cid = keccak256(abi.encode("cid", seed, level));
            p.parentId = parent;
            p.remixAllowed = true;
            p.remixShareBps = uint16(_share(h));
            p.sizeClass = c.sizeClass;
            p.pricingKind = 0;
            p.fixedPrice = uint128(c.price);
            if (level == depth) {
                p.daoShareBps = daoBps;
                p.daoTreasury = daoBps == 0 ? address(0) : dao;
            }
            address owner = pool[(h >> 64) % 3];
            parent = uint64(registerAs(owner, p));
            // owners[] runs from the executed model (last registered) up to the original.
            c.owners[depth - level] = owner;
            c.shares[depth - level] = p.remixShareBps;
        }
        c.modelId = parent;
    }

    function _balances() internal view returns (uint256[6] memory b) {
        b[0] = ledger.owed(operator);
        b[1] = ledger.owed(treasury);
        b[2] = ledger.owed(dao);
        for (uint256 i = 0; i < 3; i++) b[3 + i] = ledger.owed(pool[i]);
    }

    function _slot(address a) internal view returns (uint256) {
        if (a == operator) return 0;
        if (a == treasury) return 1;
        if (a == dao) return 2;
        for (uint256 i = 0; i < 3; i++) if (a == pool[i]) return 3 + i;
        revert("unexpected recipient");
    }

    // For random remix chains (depth 0..8), shares, DAO share, rates and meters, one execution's Settlement events follow
    // the documented walk exactly, sum to its cost, and the owed deltas equal them recipient by recipient.
    function testFuzz_settlementFollowsTheWalk(
        uint256 seed,
        uint8 depthRaw,
        uint16 daoBps,
        uint16 opBps,
        uint16 trBps,
        Metering.Meter memory m,
        uint8 priority
    ) public {
        uint256 depth = bound(depthRaw, 0, 8);
        daoBps = uint16(bound(daoBps, 0, 10_000));
        Metering.Rates memory r = defaultRates();
        r.operatorBps = uint16(bound(opBps, 0, 10_000));
        r.treasuryBps = uint16(bound(trBps, 0, 10_000 - r.operatorBps));
        ledger.setRates(r);
        Chain memory c = _registerChain(seed, depth, daoBps);
        priority = uint8(bound(priority, 0, 3));
        m.inputUnits = uint64(bound(m.inputUnits, 0, 1e9));
        m.gpuMicros = uint64(bound(m.gpuMicros, 0, 1e12));
        m.latencyMicros = uint64(bound(m.latencyMicros, 0, 1e12));
        m.storageBytes = uint64(bound(m.storageBytes, 0, 1e15));

        uint256 expectedCost = Reference.cost(r, c.sizeClass, c.price, m, priority);
        ExecutionLedger.InferenceRequest memory q =
            TestLib.request(user, c.modelId, seed, type(uint256).max, block.timestamp + 1 hours, priority);
        bytes32 id = TestLib.digest(q, block.chainid, address(ledger));

        uint256[6] memory before = _balances();
        uint256 escrowBefore = ledger.escrowOf(user);
        uint256 owedBefore = ledger.totalOwed();
        vm.recordLogs();
        record(one(item(USER_PK, q, m)));
        Vm.Log[] memory logs = vm.getRecordedLogs();

        (bool found, uint256 charged) = executedCost(logs, id);
        vm.assertTrue(found, "not executed");
        vm.assertEq(charged, expectedCost, "cost != reference");
        vm.assertEq(escrowBefore - ledger.escrowOf(user), expectedCost, "escrow debit != cost");
        vm.assertEq(ledger.totalOwed() - owedBefore, expectedCost, "totalOwed delta != cost");

        Reference.Credit[] memory want = Reference.credits(
            expectedCost, r.operatorBps, r.treasuryBps, operator, treasury, daoBps, dao, c.owners, c.shares
        );
        Credit[] memory got = credits(logs, id);
        vm.assertEq(got.length, want.length, "number of Settlement events");
        uint256 sum;
        uint256[6] memory perRecipient;
        for (uint256 i = 0; i < got.length; i++) {
            vm.assertEq(got[i].recipient, want[i].recipient, "recipient");
            vm.assertEq(uint256(got[i].role), uint256(want[i].role), "role");
            vm.assertEq(got[i].amount, want[i].amount, "amount");
            vm.assertGt(got[i].amount, 0, "zero credit emitted");
            sum += got[i].amount;
            perRecipient[_slot(got[i].recipient)] += got[i].amount;
        }
        vm.assertEq(sum, expectedCost, "Settlement events do not sum to the cost");
        uint256[6] memory after_ = _balances();
        uint256 deltaSum;
        for (uint256 i = 0; i < 6; i++) {
            vm.assertEq(after_[i] - before[i], perRecipient[i], "owed delta != credits of the recipient");
            deltaSum += after_[i] - before[i];
        }
        vm.assertEq(deltaSum, expectedCost, "owed deltas do not sum to the cost");
    }

    // Several executions in one batch over different chains settle independently: each one's credits sum to its own cost.
    function testFuzz_batchOfChainsSettlesEachExactly(uint256 seed, uint8 n) public {
        n = uint8(bound(n, 2, 6));
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](n);
        bytes32[] memory ids = new bytes32[](n);
        uint256 escrowBefore = ledger.escrowOf(user);
        for (uint256 i = 0; i < n; i++) {
            uint256 s = uint256(keccak256(abi.encode(seed, i)));
            Chain memory c = _registerChain(s, s % 9, uint16((s >> 8) % 10_001));
            Metering.Meter memory m = TestLib.meter(uint64(s % 1e6), uint64((s >> 20) % 1e9), 7, 11, uint32((s >> 60) % 40));
            ExecutionLedger.InferenceRequest memory q =
                TestLib.request(user, c.modelId, i, type(uint256).max, block.timestamp, uint8((s >> 90) % 4));
            items[i] = item(USER_PK, q, m);
            ids[i] = TestLib.digest(q, block.chainid, address(ledger));
        }
        vm.recordLogs();
        record(items);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 total;
        for (uint256 i = 0; i < n; i++) {
            (bool found, uint256 c) = executedCost(logs, ids[i]);
            vm.assertTrue(found, "item not executed");
            Credit[] memory got = credits(logs, ids[i]);
            uint256 sum;
            for (uint256 j = 0; j < got.length; j++) sum += got[j].amount;
            vm.assertEq(sum, c, "credits of one execution != its cost");
            total += c;
        }
        vm.assertEq(escrowBefore - ledger.escrowOf(user), total, "escrow debit != sum of costs");
    }
}
