// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture, TestLib} from "./utils/Fixture.sol";
import {RewardDistributor} from "../RewardDistributor.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @notice RewardDistributor: Merkle claims per epoch, once per account, within the epoch total.
contract RewardsTest is Fixture {
    address[4] internal accounts = [address(0xA1), address(0xA2), address(0xA3), address(0xA4)];
    uint256[4] internal amounts = [uint256(10e18), 20e18, 30e18, 40e18];
    bytes32[] internal leaves;
    bytes32 internal root1;

    function setUp() public {
        deployAll();
        for (uint256 i = 0; i < 4; i++) leaves.push(TestLib.leaf(1, accounts[i], amounts[i]));
        root1 = TestLib.root(leaves);
        _publish(1, 100e18, root1);
    }

    function _publish(uint256 epoch, uint128 total, bytes32 root) internal {
        token.mint(address(this), total);
        token.approve(address(distributor), total);
        distributor.publishEpoch(epoch, 1, 10, total, root);
    }

    // A valid claim pays the account; a second claim of the same leaf reverts AlreadyClaimed.
    function test_claimThenDoubleClaimReverts() public {
        bytes32[] memory p = TestLib.proof(leaves, 2);
        distributor.claim(1, accounts[2], amounts[2], p);
        vm.assertEq(token.balanceOf(accounts[2]), amounts[2], "paid");
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.AlreadyClaimed.selector, uint256(1), accounts[2]));
        distributor.claim(1, accounts[2], amounts[2], p);
        // All four leaves can be claimed by anyone on the account's behalf, and the epoch is then exhausted.
        for (uint256 i = 0; i < 4; i++) {
            if (i == 2) continue;
            vm.prank(address(0xBEEF));
            distributor.claim(1, accounts[i], amounts[i], TestLib.proof(leaves, i));
        }
        (,,,, uint128 claimed) = distributor.epochs(1);
        vm.assertEq(claimed, 100e18, "claimed");
        vm.assertEq(token.balanceOf(address(distributor)), 0, "left in distributor");
    }

    // An internal node passes MerkleProof as a generic leaf, but claim double-hashes its leaf so the node never passes.
    function test_internalNodeAsLeafRejected() public {
        bytes32 node = TestLib.hashPair(leaves[0], leaves[1]);
        bytes32[] memory upper = new bytes32[](1);
        upper[0] = TestLib.hashPair(leaves[2], leaves[3]);
        vm.assertTrue(distributor.verify(root1, node, upper), "node verifies at the MerkleProof level");
        // Read the node's 64-byte preimage as claim fields in every way that fits.
        (bytes32 lo, bytes32 hi) = leaves[0] < leaves[1] ? (leaves[0], leaves[1]) : (leaves[1], leaves[0]);
        address a1 = address(uint160(uint256(lo)));
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.InvalidProof.selector, uint256(1), a1, uint256(hi)));
        distributor.claim(1, a1, uint256(hi), upper);
        address a2 = address(uint160(uint256(node)));
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.InvalidProof.selector, uint256(1), a2, uint256(node)));
        distributor.claim(1, a2, uint256(node), upper);
        // A single-hashed leaf (the inner hash) is not a leaf either.
        bytes32[] memory p0 = TestLib.proof(leaves, 0);
        bytes32 inner = keccak256(abi.encode(uint256(1), accounts[0], amounts[0]));
        vm.assertFalse(distributor.verify(root1, inner, p0), "inner hash verifies");
        vm.assertTrue(distributor.verify(root1, leaves[0], p0), "real leaf fails");
        vm.assertEq(distributor.leafHash(1, accounts[0], amounts[0]), leaves[0], "leafHash");
    }

    // A claim that would lift the epoch's claimed total above its total reverts ExceedsEpochTotal.
    function test_overTotalClaimReverts() public {
        bytes32[] memory l = new bytes32[](3);
        l[0] = TestLib.leaf(2, accounts[0], 60e18);
        l[1] = TestLib.leaf(2, accounts[1], 50e18);
        l[2] = TestLib.leaf(2, accounts[2], 101e18);
        _publish(2, 100e18, TestLib.root(l));
        vm.expectRevert(
            abi.encodeWithSelector(RewardDistributor.ExceedsEpochTotal.selector, uint256(2), uint256(101e18), uint256(100e18))
        );
        distributor.claim(2, accounts[2], 101e18, TestLib.proof(l, 2));
        distributor.claim(2, accounts[0], 60e18, TestLib.proof(l, 0));
        vm.expectRevert(
            abi.encodeWithSelector(RewardDistributor.ExceedsEpochTotal.selector, uint256(2), uint256(110e18), uint256(100e18))
        );
        distributor.claim(2, accounts[1], 50e18, TestLib.proof(l, 1));
        vm.assertFalse(distributor.claimed(2, accounts[1]), "failed claim marked");
    }

    // Wrong amount, account, epoch or proof is InvalidProof; an unpublished epoch is UnknownEpoch.
    function test_invalidClaims() public {
        bytes32[] memory p = TestLib.proof(leaves, 1);
        vm.expectRevert(
            abi.encodeWithSelector(RewardDistributor.InvalidProof.selector, uint256(1), accounts[1], amounts[1] + 1)
        );
        distributor.claim(1, accounts[1], amounts[1] + 1, p);
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.InvalidProof.selector, uint256(1), accounts[0], amounts[1]));
        distributor.claim(1, accounts[0], amounts[1], p);
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.UnknownEpoch.selector, uint256(3)));
        distributor.claim(3, accounts[1], amounts[1], p);
        // The same leaf values under another published epoch do not verify (the epoch is in the leaf).
        _publish(4, 100e18, root1);
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.InvalidProof.selector, uint256(4), accounts[1], amounts[1]));
        distributor.claim(4, accounts[1], amounts[1], p);
    }

    // publishEpoch: rewards role only, once per epoch, non-zero root, ordered block range, pulls the total.
    function test_publishRules() public {
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.EpochExists.selector, uint256(1)));
        distributor.publishEpoch(1, 1, 2, 0, root1);
        vm.expectRevert(RewardDistributor.ZeroRoot.selector);
        distributor.publishEpoch(5, 1, 2, 0, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(RewardDistributor.BadBlockRange.selector, uint64(3), uint64(2)));
        distributor.publishEpoch(5, 3, 2, 0, root1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(0xBAD), distributor.REWARDS_ROLE()
            )
        );
        vm.prank(address(0xBAD));
        distributor.publishEpoch(5, 1, 2, 0, root1);
        vm.assertEq(token.balanceOf(address(distributor)), 100e18, "total pulled");
    }

    // For random trees of 1..12 leaves, every leaf claims once in any order, a repeat always reverts, claimed == total.
    function testFuzz_claimsOfRandomTrees(uint256 seed, uint8 n) public {
        n = uint8(bound(n, 1, 12));
        bytes32[] memory l = new bytes32[](n);
        address[] memory acc = new address[](n);
        uint256[] memory amt = new uint256[](n);
        uint256 total;
        for (uint256 i = 0; i < n; i++) {
            acc[i] = address(uint160(uint256(keccak256(abi.encode(seed, i)))));
            amt[i] = bound(uint256(keccak256(abi.encode(seed, i, "amt"))), 0, 1e24);
            l[i] = TestLib.leaf(7, acc[i], amt[i]);
            total += amt[i];
        }
        _publish(7, uint128(total), TestLib.root(l));
        uint256 start = seed % n;
        for (uint256 k = 0; k < n; k++) {
            uint256 i = (start + k * 5) % n; // 5 is coprime with n unless n is a multiple of 5
            if (distributor.claimed(7, acc[i])) continue;
            bytes32[] memory p = TestLib.proof(l, i);
            distributor.claim(7, acc[i], amt[i], p);
            vm.expectRevert(abi.encodeWithSelector(RewardDistributor.AlreadyClaimed.selector, uint256(7), acc[i]));
            distributor.claim(7, acc[i], amt[i], p);
        }
        for (uint256 i = 0; i < n; i++) {
            if (!distributor.claimed(7, acc[i])) distributor.claim(7, acc[i], amt[i], TestLib.proof(l, i));
            vm.assertEq(token.balanceOf(acc[i]), amt[i], "account paid");
        }
        (,,, uint128 tot, uint128 claimed) = distributor.epochs(7);
        vm.assertEq(claimed, tot, "claimed != total");
    }
}
