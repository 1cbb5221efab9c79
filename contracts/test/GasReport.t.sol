// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture, TestLib} from "./utils/Fixture.sol";
import {ExecutionLedger} from "../ExecutionLedger.sol";
import {Metering} from "../Metering.sol";

/// @notice recordBatch gas for batches of 1, 10 and 100 valid items: one user and model, or ten users round-robin.
/// Run `forge test --match-contract GasReport --gas-report -vv` for the table and the per-execution logs.
/// State is steady: every user has executed once before (nonce word, usage count and credit slots are non-zero).
/// Logged gas is execution gas of the call (gasleft() around it); calldata and the 21,000 base cost come on top,
/// and the calldata part is logged separately (4 gas per zero byte, 16 per non-zero byte).
contract GasReport is Fixture {
    uint256[] internal pks;
    address[] internal users;
    uint256 internal model;

    function setUp() public {
        deployAll();
        vm.warp(1_700_000_000);
        model = registerAs(creator, fixedModel(keccak256("gas model"), 1e18, 0));
        ExecutionLedger.Item[] memory warm = new ExecutionLedger.Item[](10);
        for (uint256 i = 0; i < 10; i++) {
            uint256 pk = 0x5000 + i;
            pks.push(pk);
            users.push(vm.addr(pk));
            fund(users[i], 1_000e18);
            warm[i] = item(pk, _q(i, 255), _meter());
        }
        record(warm);
    }

    function _meter() internal pure returns (Metering.Meter memory) {
        return TestLib.meter(1_000, 50_000, 20_000, 4_096, 3);
    }

    function _q(uint256 u, uint256 nonce) internal view returns (ExecutionLedger.InferenceRequest memory) {
        return TestLib.request(users[u], model, nonce, type(uint256).max, block.timestamp + 1 hours, 1);
    }

    function _measure(string memory label, uint256 n, uint256 nUsers) internal {
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](n);
        for (uint256 i = 0; i < n; i++) items[i] = item(pks[i % nUsers], _q(i % nUsers, i / nUsers), _meter());
        bytes memory data = abi.encodeCall(ExecutionLedger.recordBatch, (items));
        uint256 calldataGas;
        for (uint256 i = 0; i < data.length; i++) calldataGas += data[i] == 0 ? 4 : 16;
        uint256 owedBefore = ledger.totalOwed();
        vm.prank(operator);
        uint256 g = gasleft();
        (bool ok,) = address(ledger).call(data);
        uint256 used = g - gasleft();
        vm.assertTrue(ok, "recordBatch reverted");
        vm.assertGt(ledger.totalOwed(), owedBefore, "nothing settled");
        for (uint256 u = 0; u < nUsers; u++) {
            vm.assertEq(ledger.usageCount(model, users[u]), 1 + (n - u + nUsers - 1) / nUsers, "not all executed");
        }
        emit log_string(label);
        emit log_named_uint("  batch execution gas", used);
        emit log_named_uint("  execution gas per item", used / n);
        emit log_named_uint("  calldata gas per item", calldataGas / n);
    }

    // Gas of recordBatch with 1 item.
    function test_gas_1_item() public {
        _measure("1 item, 1 user", 1, 1);
    }

    // Gas of recordBatch with 10 items from the same user on the same model.
    function test_gas_10_items_same_user() public {
        _measure("10 items, 1 user", 10, 1);
    }

    // Gas of recordBatch with 100 items from the same user on the same model.
    function test_gas_100_items_same_user() public {
        _measure("100 items, 1 user", 100, 1);
    }

    // Gas of recordBatch with 10 items from 10 distinct users (one each) on the same model.
    function test_gas_10_items_10_users() public {
        _measure("10 items, 10 users", 10, 10);
    }

    // Gas of recordBatch with 100 items from 10 distinct users (ten each, round-robin) on the same model.
    function test_gas_100_items_10_users() public {
        _measure("100 items, 10 users", 100, 10);
    }
}
