// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Metering} from "../../Metering.sol";

/// @notice The metering rule and the settlement walk of docs/PROTOCOL.md, rewritten step by step from the
/// spec (not from Metering.sol), to check the contracts against.
library Reference {
    uint256 internal constant ROLE_CREATOR = 0;
    uint256 internal constant ROLE_OPERATOR = 1;
    uint256 internal constant ROLE_TREASURY = 2;
    uint256 internal constant ROLE_DAO = 3;
    uint256 internal constant ROLE_REMIX_ANCESTOR = 4;

    struct Credit {
        address recipient;
        uint8 role;
        uint256 amount;
    }

    /// @dev base, compute, sub, load, cost: one floor per division, in the documented order.
    function cost(Metering.Rates memory r, uint8 sizeClass, uint256 base, Metering.Meter memory m, uint8 priority)
        internal
        pure
        returns (uint256)
    {
        uint256 compute = 0;
        compute = compute + uint256(m.inputUnits) * uint256(r.unitRate[sizeClass]);
        compute = compute + uint256(m.gpuMicros) * uint256(r.gpuRate);
        compute = compute + uint256(m.latencyMicros) * uint256(r.latencyRate);
        compute = compute + uint256(m.storageBytes) * uint256(r.storageRate);
        uint256 sub = ((base + compute) * uint256(r.priorityBps[priority])) / 10_000;
        uint256 excess = 0;
        if (uint256(m.concurrentLoad) > uint256(r.loadCapacity)) {
            excess = uint256(m.concurrentLoad) - uint256(r.loadCapacity);
        }
        uint256 load = 10_000 + uint256(r.loadBpsPerUnit) * excess;
        if (load > uint256(r.maxLoadBps)) load = uint256(r.maxLoadBps);
        return (sub * load) / 10_000;
    }

    /// @dev The list of non-zero credits of one execution, in emission order: operator, treasury, dao, then the
    /// remix walk from the executed model (owners[0]) up to the original (owners[owners.length - 1]).
    /// shares[k] is the remixShareBps of the model owned by owners[k] (shares[0] is never used).
    function credits(
        uint256 c,
        uint256 operatorBps,
        uint256 treasuryBps,
        address operator_,
        address treasury_,
        uint256 daoShareBps,
        address daoTreasury,
        address[] memory owners,
        uint256[] memory shares
    ) internal pure returns (Credit[] memory out) {
        Credit[] memory buf = new Credit[](3 + owners.length);
        uint256 n = 0;
        uint256 op = c * operatorBps / 10_000;
        uint256 creatorSide = c * (10_000 - operatorBps - treasuryBps) / 10_000;
        uint256 tr = c - op - creatorSide;
        if (op > 0) buf[n++] = Credit(operator_, uint8(ROLE_OPERATOR), op);
        if (tr > 0) buf[n++] = Credit(treasury_, uint8(ROLE_TREASURY), tr);
        uint256 daoAmt = creatorSide * daoShareBps / 10_000;
        if (daoAmt > 0) buf[n++] = Credit(daoTreasury, uint8(ROLE_DAO), daoAmt);
        uint256 amount = creatorSide - daoAmt;
        for (uint256 k = 0; k < owners.length; k++) {
            uint8 role = k == 0 ? uint8(ROLE_CREATOR) : uint8(ROLE_REMIX_ANCESTOR);
            uint256 keep = amount;
            if (k + 1 < owners.length) {
                uint256 up = amount * shares[k + 1] / 10_000;
                keep = amount - up;
                amount = up;
            }
            if (keep > 0) buf[n++] = Credit(owners[k], role, keep);
        }
        out = new Credit[](n);
        for (uint256 i = 0; i < n; i++) out[i] = buf[i];
    }
}
