// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {Reference} from "./utils/Reference.sol";
import {Metering} from "../Metering.sol";
import {ExecutionLedger} from "../ExecutionLedger.sol";

/// @notice Fuzz tests of the metering rule (Metering.cost) and the protocol split (Metering.protocolSplit).
contract MeteringTest is TestBase {
    ExecutionLedger internal ledger;

    function setUp() public {
        address token = vm.deployCode("ArtToken.sol:ArtToken", abi.encode(address(this)));
        address registry = vm.deployCode("ModelRegistry.sol:ModelRegistry", abi.encode(address(this)));
        ledger = ExecutionLedger(
            vm.deployCode(
                "ExecutionLedger.sol:ExecutionLedger", abi.encode(token, registry, address(this), address(0x7EA5))
            )
        );
    }

    /// @dev Any fuzzed Rates made valid (the constraints setRates enforces).
    function _valid(Metering.Rates memory r) internal pure returns (Metering.Rates memory) {
        for (uint256 i = 0; i < 4; i++) {
            r.priorityBps[i] = uint16(bound(r.priorityBps[i], 1, type(uint16).max));
        }
        r.maxLoadBps = uint32(bound(r.maxLoadBps, 10_000, type(uint32).max));
        r.operatorBps = uint16(bound(r.operatorBps, 0, 10_000));
        r.treasuryBps = uint16(bound(r.treasuryBps, 0, 10_000 - r.operatorBps));
        return r;
    }

    function _sub(Metering.Rates memory r, uint8 sc, uint256 base, Metering.Meter memory m, uint8 p)
        internal
        pure
        returns (uint256)
    {
        uint256 compute = uint256(m.inputUnits) * r.unitRate[sc] + uint256(m.gpuMicros) * r.gpuRate
            + uint256(m.latencyMicros) * r.latencyRate + uint256(m.storageBytes) * r.storageRate;
        return (base + compute) * r.priorityBps[p] / 10_000;
    }

    // Metering.cost (and the ledger's public meteringCost) equals the step-by-step reference for any valid rates and meter.
    function testFuzz_costMatchesReference(
        Metering.Rates memory r,
        uint8 sizeClass,
        uint128 base,
        Metering.Meter memory m,
        uint8 priority
    ) public view {
        r = _valid(r);
        sizeClass = uint8(bound(sizeClass, 0, 3));
        priority = uint8(bound(priority, 0, 3));
        uint256 expected = Reference.cost(r, sizeClass, base, m, priority);
        vm.assertEq(Metering.cost(r, sizeClass, base, m, priority), expected, "library cost != reference");
        vm.assertEq(ledger.meteringCost(r, sizeClass, base, m, priority), expected, "meteringCost != reference");
    }

    // Raising any one meter component (or the base price) never lowers the cost.
    function testFuzz_costMonotonicInEachComponent(
        Metering.Rates memory r,
        uint8 sizeClass,
        uint128 base,
        Metering.Meter memory m,
        uint8 priority,
        uint8 which,
        uint64 delta
    ) public pure {
        r = _valid(r);
        sizeClass = uint8(bound(sizeClass, 0, 3));
        priority = uint8(bound(priority, 0, 3));
        uint256 before = Metering.cost(r, sizeClass, base, m, priority);
        uint256 base2 = base;
        which = uint8(bound(which, 0, 5));
        if (which == 0) m.inputUnits = uint64(bound(uint256(m.inputUnits) + delta, m.inputUnits, type(uint64).max));
        else if (which == 1) m.gpuMicros = uint64(bound(uint256(m.gpuMicros) + delta, m.gpuMicros, type(uint64).max));
        else if (which == 2) m.latencyMicros = uint64(bound(uint256(m.latencyMicros) + delta, m.latencyMicros, type(uint64).max));
        else if (which == 3) m.storageBytes = uint64(bound(uint256(m.storageBytes) + delta, m.storageBytes, type(uint64).max));
        else if (which == 4) m.concurrentLoad = uint32(bound(uint256(m.concurrentLoad) + delta, m.concurrentLoad, type(uint32).max));
        else base2 = uint256(base) + delta;
        uint256 after_ = Metering.cost(r, sizeClass, base2, m, priority);
        vm.assertGe(after_, before, "cost decreased when a component grew");
    }

    // With the load at or below capacity the load factor is 1: cost == (base + compute) * priorityBps / 10000.
    function testFuzz_loadAtOrBelowCapacityIsNeutral(
        Metering.Rates memory r,
        uint8 sizeClass,
        uint128 base,
        Metering.Meter memory m,
        uint8 priority
    ) public pure {
        r = _valid(r);
        sizeClass = uint8(bound(sizeClass, 0, 3));
        priority = uint8(bound(priority, 0, 3));
        m.concurrentLoad = uint32(bound(m.concurrentLoad, 0, r.loadCapacity));
        vm.assertEq(
            Metering.cost(r, sizeClass, base, m, priority), _sub(r, sizeClass, base, m, priority), "load not neutral"
        );
    }

    // Above capacity the load factor grows by loadBpsPerUnit per extra unit but never beyond maxLoadBps (the cap).
    function testFuzz_loadFactorAndCap(
        Metering.Rates memory r,
        uint8 sizeClass,
        uint128 base,
        Metering.Meter memory m,
        uint8 priority
    ) public pure {
        r = _valid(r);
        sizeClass = uint8(bound(sizeClass, 0, 3));
        priority = uint8(bound(priority, 0, 3));
        uint256 sub = _sub(r, sizeClass, base, m, priority);
        uint256 c = Metering.cost(r, sizeClass, base, m, priority);
        vm.assertGe(c, sub, "load factor below 1");
        vm.assertLe(c, sub * r.maxLoadBps / 10_000, "load factor above the cap");
        uint256 excess = m.concurrentLoad > r.loadCapacity ? m.concurrentLoad - r.loadCapacity : 0;
        uint256 uncapped = 10_000 + uint256(r.loadBpsPerUnit) * excess;
        if (uncapped >= r.maxLoadBps) {
            vm.assertEq(c, sub * r.maxLoadBps / 10_000, "capped load not applied");
        } else {
            vm.assertEq(c, sub * uncapped / 10_000, "linear load not applied");
        }
    }

    // A priority with a larger priorityBps never costs less, and 10000 bps at neutral load charges base + compute exactly.
    function testFuzz_priorityScales(
        Metering.Rates memory r,
        uint8 sizeClass,
        uint128 base,
        Metering.Meter memory m,
        uint8 p1,
        uint8 p2
    ) public pure {
        r = _valid(r);
        sizeClass = uint8(bound(sizeClass, 0, 3));
        p1 = uint8(bound(p1, 0, 3));
        p2 = uint8(bound(p2, 0, 3));
        uint256 c1 = Metering.cost(r, sizeClass, base, m, p1);
        uint256 c2 = Metering.cost(r, sizeClass, base, m, p2);
        if (r.priorityBps[p1] <= r.priorityBps[p2]) vm.assertLe(c1, c2, "higher priority bps cost less");
        else vm.assertGe(c1, c2, "higher priority bps cost less");

        r.priorityBps[p1] = 10_000;
        m.concurrentLoad = uint32(bound(m.concurrentLoad, 0, r.loadCapacity));
        uint256 compute = uint256(m.inputUnits) * r.unitRate[sizeClass] + uint256(m.gpuMicros) * r.gpuRate
            + uint256(m.latencyMicros) * r.latencyRate + uint256(m.storageBytes) * r.storageRate;
        vm.assertEq(Metering.cost(r, sizeClass, base, m, p1), uint256(base) + compute, "1x priority not exact");
    }

    // The protocol split sums to the amount, operator and creator side are the documented floors, the treasury holds the remainder.
    function testFuzz_protocolSplit(uint256 amount, uint16 opBps, uint16 trBps) public pure {
        amount = bound(amount, 0, type(uint256).max / 10_000);
        opBps = uint16(bound(opBps, 0, 10_000));
        trBps = uint16(bound(trBps, 0, 10_000 - opBps));
        (uint256 op, uint256 tr, uint256 cs) = Metering.protocolSplit(amount, opBps, trBps);
        vm.assertEq(op + tr + cs, amount, "split does not sum to the amount");
        vm.assertEq(op, amount * opBps / 10_000, "operator share");
        vm.assertEq(cs, amount * (10_000 - opBps - trBps) / 10_000, "creator side");
        vm.assertEq(tr, amount - op - cs, "treasury is not the remainder");
        // The remainder is the treasury's floor plus at most the two rounding losses.
        vm.assertGe(tr, amount * trBps / 10_000, "treasury below its floor share");
        vm.assertLe(tr, amount * trBps / 10_000 + 2, "treasury more than its share plus rounding");
    }

    // setRates refuses the rates the spec forbids: a zero priority multiplier, maxLoadBps < 10000, operator + treasury > 10000.
    function testFuzz_setRatesValidation(Metering.Rates memory r, uint8 breakWhich) public {
        r = _valid(r);
        ledger.setRates(r);
        breakWhich = uint8(bound(breakWhich, 0, 2));
        if (breakWhich == 0) r.priorityBps[r.gpuRate % 4] = 0;
        else if (breakWhich == 1) r.maxLoadBps = uint32(bound(r.maxLoadBps, 0, 9_999));
        else r.treasuryBps = uint16(bound(r.treasuryBps, 10_001 - uint256(r.operatorBps), type(uint16).max));
        vm.expectRevert(ExecutionLedger.BadRates.selector);
        ledger.setRates(r);
    }
}
