// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";

/// @notice Withdrawal requests at the edge of what the ledger stores (uint128): never truncated.
contract WithdrawalBounds is Fixture {
    address internal user = address(0xABCD);

    function setUp() public {
        deployAll();
        fund(user, 10e18);
    }

    // A request above uint128 is refused instead of being stored truncated (it once became 0 or 5 wei).
    function test_requestAboveUint128Reverts() public {
        vm.prank(user);
        vm.expectRevert();
        ledger.requestWithdrawal(2 ** 128);
        vm.prank(user);
        vm.expectRevert();
        ledger.requestWithdrawal(2 ** 128 + 5);
    }

    // The largest storable request pays min(requested, escrow) after the delay: the whole escrow here.
    function test_maxRequestPaysTheWholeEscrow() public {
        uint256 t0 = block.timestamp;
        vm.prank(user);
        ledger.requestWithdrawal(type(uint128).max);
        vm.warp(t0 + 1 hours);
        vm.prank(user);
        vm.assertEq(ledger.executeWithdrawal(), 10e18, "paid != min(requested, escrow)");
    }
}
