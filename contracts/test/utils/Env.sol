// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";
import {ExecutionLedger} from "../../ExecutionLedger.sol";
import {Metering} from "../../Metering.sol";

/// @notice Deploys and configures the protocol for a test contract, pranking as that contract (the admin).
/// Kept out of the test contracts so that its code is compiled once rather than once per test contract.
contract Env {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    function deploy(address admin, address operator, address treasury, uint64 cooldown)
        external
        returns (address[6] memory a)
    {
        a[0] = vm.deployCode("ArtToken.sol:ArtToken", abi.encode(admin));
        a[1] = vm.deployCode("ModelRegistry.sol:ModelRegistry", abi.encode(admin));
        a[2] = vm.deployCode("ExecutionLedger.sol:ExecutionLedger", abi.encode(a[0], a[1], admin, treasury));
        a[3] = vm.deployCode("Curation.sol:Curation", abi.encode(a[0], a[1], cooldown));
        a[4] = vm.deployCode("Feedback.sol:Feedback", abi.encode(a[2]));
        a[5] = vm.deployCode("RewardDistributor.sol:RewardDistributor", abi.encode(a[0], admin));
        ExecutionLedger ledger = ExecutionLedger(a[2]);
        vm.startPrank(admin);
        ledger.grantRole(keccak256("OPERATOR_ROLE"), operator);
        ledger.setRates(defaultRates());
        vm.stopPrank();
    }

    /// @dev The rates every test starts with (Fixture.defaultRates returns the same values).
    function defaultRates() public pure returns (Metering.Rates memory r) {
        r.unitRate = [uint64(1e12), 2e12, 4e12, 8e12];
        r.gpuRate = 1e9;
        r.latencyRate = 1e6;
        r.storageRate = 1e3;
        r.priorityBps = [uint16(10_000), 12_500, 15_000, 20_000];
        r.loadBpsPerUnit = 500;
        r.loadCapacity = 8;
        r.maxLoadBps = 30_000;
        r.operatorBps = 1_000;
        r.treasuryBps = 500;
    }
}
