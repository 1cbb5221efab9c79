// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Curation} from "../Curation.sol";

/// @notice Curation: staked signals on models and assets, returned after the cooldown to their curator only.
contract CurationTest is Fixture {
    address internal curator = address(0xC0);
    uint256 internal model;

    function setUp() public {
        deployAll();
        model = registerAs(creator, fixedModel(keccak256("m"), 1e18, 0));
        token.mint(curator, 100e18);
        vm.prank(curator);
        token.approve(address(curation), type(uint256).max);
    }

    // A signal stakes its amount; unsignal before the cooldown reverts, after it returns the stake once.
    function test_signalCooldownUnsignal() public {
        vm.prank(curator);
        uint256 id = curation.signal(0, bytes32(model), 1, 10e18);
        vm.assertEq(id, 1, "first id");
        vm.assertEq(curation.totalStaked(), 10e18, "totalStaked");
        vm.assertEq(curation.stakedBy(curator), 10e18, "stakedBy");
        vm.assertEq(token.balanceOf(address(curation)), 10e18, "balance");
        uint64 unlockAt = uint64(block.timestamp) + COOLDOWN;
        vm.warp(unlockAt - 1);
        vm.expectRevert(abi.encodeWithSelector(Curation.CoolingDown.selector, id, unlockAt));
        vm.prank(curator);
        curation.unsignal(id);
        vm.warp(unlockAt);
        vm.expectRevert(abi.encodeWithSelector(Curation.NotCurator.selector, id, address(this)));
        curation.unsignal(id);
        vm.prank(curator);
        curation.unsignal(id);
        vm.assertEq(token.balanceOf(curator), 100e18, "stake back");
        vm.assertEq(curation.totalStaked(), 0, "totalStaked after");
        vm.expectRevert(abi.encodeWithSelector(Curation.NotActive.selector, id));
        vm.prank(curator);
        curation.unsignal(id);
    }

    // Signals are validated: amount > 0, target kind 0..1, signal kind 0..3, a MODEL target must exist; assets are free-form.
    function test_signalValidation() public {
        vm.startPrank(curator);
        vm.expectRevert(Curation.ZeroAmount.selector);
        curation.signal(0, bytes32(model), 0, 0);
        vm.expectRevert(abi.encodeWithSelector(Curation.BadTargetKind.selector, uint8(2)));
        curation.signal(2, bytes32(model), 0, 1);
        vm.expectRevert(abi.encodeWithSelector(Curation.BadSignalKind.selector, uint8(4)));
        curation.signal(0, bytes32(model), 4, 1);
        vm.expectRevert(abi.encodeWithSelector(Curation.UnknownModel.selector, uint256(77)));
        curation.signal(0, bytes32(uint256(77)), 0, 1);
        uint256 id = curation.signal(1, keccak256("asset"), 3, 5);
        vm.stopPrank();
        (address c, uint8 tk, uint8 k, bool active,, uint128 amount, bytes32 target) = curation.signals(id);
        vm.assertEq(c, curator, "curator");
        vm.assertEq(uint256(tk), 1, "target kind");
        vm.assertEq(uint256(k), 3, "kind");
        vm.assertTrue(active, "active");
        vm.assertEq(amount, 5, "amount");
        vm.assertEq(target, keccak256("asset"), "target");
    }
}
