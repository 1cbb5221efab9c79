// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The metering rule and the settlement split, as pure functions (docs/PROTOCOL.md).
/// @notice Integer arithmetic, floor at each step, in the documented order.
library Metering {
    uint256 internal constant BPS = 10_000;
    uint8 internal constant PRIORITY_TIERS = 4;
    uint8 internal constant SIZE_CLASSES = 4;

    struct Meter {
        uint64 inputUnits;
        uint64 gpuMicros;
        uint64 latencyMicros;
        uint64 storageBytes;
        uint32 concurrentLoad;
    }

    struct Rates {
        uint64[4] unitRate;
        uint64 gpuRate;
        uint64 latencyRate;
        uint64 storageRate;
        uint16[4] priorityBps;
        uint32 loadBpsPerUnit;
        uint32 loadCapacity;
        uint32 maxLoadBps;
        uint16 operatorBps;
        uint16 treasuryBps;
    }

    /// @dev Callers guarantee sizeClass < 4 and priority < 4 (the ledger rejects others first).
    function cost(Rates memory r, uint8 sizeClass, uint256 base, Meter memory m, uint8 priority)
        internal
        pure
        returns (uint256)
    {
        uint256 compute = uint256(m.inputUnits) * r.unitRate[sizeClass] + uint256(m.gpuMicros) * r.gpuRate
            + uint256(m.latencyMicros) * r.latencyRate + uint256(m.storageBytes) * r.storageRate;
        uint256 sub = (base + compute) * r.priorityBps[priority] / BPS;
        uint256 load = BPS;
        if (m.concurrentLoad > r.loadCapacity) {
            load += uint256(r.loadBpsPerUnit) * (m.concurrentLoad - r.loadCapacity);
        }
        if (load > r.maxLoadBps) load = r.maxLoadBps;
        return sub * load / BPS;
    }

    /// @notice The protocol split: operator, treasury and creator side sum to `amount`; the treasury holds
    /// the rounding remainder.
    function protocolSplit(uint256 amount, uint16 operatorBps, uint16 treasuryBps)
        internal
        pure
        returns (uint256 operatorAmt, uint256 treasuryAmt, uint256 creatorSide)
    {
        operatorAmt = amount * operatorBps / BPS;
        creatorSide = amount * (BPS - operatorBps - treasuryBps) / BPS;
        treasuryAmt = amount - operatorAmt - creatorSide;
    }

    function validRates(Rates memory r) internal pure returns (bool) {
        for (uint256 i = 0; i < PRIORITY_TIERS; i++) {
            if (r.priorityBps[i] == 0) return false;
        }
        return r.maxLoadBps >= BPS && uint256(r.operatorBps) + r.treasuryBps <= BPS;
    }
}
