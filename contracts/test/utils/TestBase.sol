// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";

/// @notice Minimal test base: the cheatcode handle, DSTest-style log events (forge prints them with -vv)
/// and a `bound` helper for fuzz inputs.
abstract contract TestBase {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    event log_string(string val);
    event log_named_uint(string key, uint256 val);

    /// @dev Maps x into [lo, hi] (inclusive); uniform enough for fuzzing, keeps small x small.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (x >= lo && x <= hi) return x;
        uint256 span = hi - lo;
        if (span == type(uint256).max) return x;
        return lo + x % (span + 1);
    }
}

/// @notice The hooks forge's invariant runner reads from a test contract (the names and the
/// FuzzSelector layout follow forge-std's StdInvariant).
abstract contract InvariantBase is TestBase {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetContracts;
    address[] private _targetSenders;
    address[] private _excludedContracts;
    FuzzSelector[] private _targetSelectors;

    function targetContract(address a) internal {
        _targetContracts.push(a);
    }

    function targetSender(address a) internal {
        _targetSenders.push(a);
    }

    function excludeContract(address a) internal {
        _excludedContracts.push(a);
    }

    function targetSelector(address a, bytes4[] memory selectors) internal {
        _targetSelectors.push(FuzzSelector(a, selectors));
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetSenders;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }
}
