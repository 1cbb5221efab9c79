// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {ModelRegistry} from "../ModelRegistry.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @notice ModelRegistry: remix depth and license, registration and tier validation, owner-only terms.
contract RegistryTest is Fixture {
    address internal owner = address(0x0A1);
    address internal other = address(0x0B2);

    function setUp() public {
        deployAll();
    }

    function _reg(bytes32 cid, uint64 parent) internal pure returns (ModelRegistry.Registration memory) {
        return fixedModel(cid, 1e18, parent);
    }

    function _tiered(bytes32 cid, uint64[] memory th, uint128[] memory pr)
        internal
        pure
        returns (ModelRegistry.Registration memory p)
    {
        p = fixedModel(cid, 0, 0);
        p.pricingKind = 1;
        p.thresholds = th;
        p.prices = pr;
    }

    // A remix chain reaches depth 8 (nine models) and the ninth remix (depth 9) is refused with RemixTooDeep.
    function test_remixDepth8AcceptedAnd9Refused() public {
        uint64 parent = 0;
        for (uint256 d = 0; d <= 8; d++) {
            parent = uint64(registerAs(owner, _reg(keccak256(abi.encode(d)), parent)));
            vm.assertEq(registry.getModel(parent).depth, d, "depth");
        }
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.RemixTooDeep.selector, uint256(parent), uint8(9)));
        registerAs(owner, _reg(keccak256("too deep"), parent));
        // A sibling remix of a depth-7 model is still fine.
        registerAs(other, _reg(keccak256("sibling"), parent - 1));
    }

    // A remix of a parent that does not allow remixes, or of an unknown parent, is refused.
    function test_remixLicenseAndUnknownParent() public {
        ModelRegistry.Registration memory p = _reg(keccak256("closed"), 0);
        p.remixAllowed = false;
        uint256 closed = registerAs(owner, p);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.RemixNotAllowed.selector, closed));
        registerAs(other, _reg(keccak256("remix"), uint64(closed)));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, uint256(99)));
        registerAs(other, _reg(keccak256("orphan"), 99));
        // Opening the license later allows remixes; closing it again refuses new ones.
        vm.prank(owner);
        registry.setLicense(closed, true, 500);
        uint256 remix = registerAs(other, _reg(keccak256("remix"), uint64(closed)));
        (address o, uint64 parentId, uint16 share) = registry.remixLink(closed);
        vm.assertEq(o, owner, "link owner");
        vm.assertEq(parentId, 0, "link parent");
        vm.assertEq(share, 500, "link share");
        vm.assertEq(registry.getModel(remix).parentId, closed, "parent id");
        vm.prank(owner);
        registry.setLicense(closed, false, 500);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.RemixNotAllowed.selector, closed));
        registerAs(other, _reg(keccak256("remix 2"), uint64(closed)));
    }

    // Tier validation: 1..16 tiers, matching lengths, first threshold 0, strictly ascending, no fixed price; fixed takes no tiers.
    function test_tierValidation() public {
        uint64[] memory th = new uint64[](0);
        uint128[] memory pr = new uint128[](0);
        _expectBadPricing("tier count must be 1..16");
        registerAs(owner, _tiered(keccak256("a"), th, pr));

        th = new uint64[](17);
        pr = new uint128[](17);
        for (uint256 i = 0; i < 17; i++) (th[i], pr[i]) = (uint64(i), uint128(100 - i));
        _expectBadPricing("tier count must be 1..16");
        registerAs(owner, _tiered(keccak256("a"), th, pr));

        th = new uint64[](2);
        pr = new uint128[](3);
        th[1] = 5;
        _expectBadPricing("one price per threshold");
        registerAs(owner, _tiered(keccak256("a"), th, pr));

        pr = new uint128[](2);
        th[0] = 1;
        _expectBadPricing("first threshold must be 0");
        registerAs(owner, _tiered(keccak256("a"), th, pr));

        th[0] = 0;
        th[1] = 0;
        _expectBadPricing("thresholds must ascend strictly");
        registerAs(owner, _tiered(keccak256("a"), th, pr));

        th[1] = 5;
        ModelRegistry.Registration memory p = _tiered(keccak256("a"), th, pr);
        p.fixedPrice = 1;
        _expectBadPricing("tiered pricing takes no fixed price");
        registerAs(owner, p);

        p = _reg(keccak256("a"), 0);
        p.thresholds = th;
        _expectBadPricing("fixed pricing takes no tiers");
        registerAs(owner, p);

        p = _reg(keccak256("a"), 0);
        p.pricingKind = 2;
        _expectBadPricing("unknown pricing kind");
        registerAs(owner, p);

        // Exactly 16 strictly ascending tiers starting at 0 are accepted, also through setPricing.
        th = new uint64[](16);
        pr = new uint128[](16);
        for (uint256 i = 0; i < 16; i++) (th[i], pr[i]) = (uint64(i * 3), uint128(1e18 - i));
        uint256 id = registerAs(owner, _tiered(keccak256("ok"), th, pr));
        vm.assertEq(registry.priceFor(id, 0), 1e18, "tier 0");
        vm.assertEq(registry.priceFor(id, 44), 1e18 - 14, "tier 14");
        vm.assertEq(registry.priceFor(id, 45), 1e18 - 15, "tier 15");
        vm.assertEq(registry.priceFor(id, type(uint256).max), 1e18 - 15, "last tier");
        th[3] = th[2];
        _expectBadPricing("thresholds must ascend strictly");
        vm.prank(owner);
        registry.setPricing(id, 1, 0, th, pr);
    }

    function _expectBadPricing(string memory why) internal {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadPricing.selector, why));
    }

    // priceFor returns the price of the largest tier whose threshold is <= the prior count (fuzzed tiers and counts).
    function testFuzz_priceForPicksTheTier(uint256 seed, uint8 n, uint256 count) public {
        n = uint8(bound(n, 1, 16));
        uint64[] memory th = new uint64[](n);
        uint128[] memory pr = new uint128[](n);
        for (uint256 i = 1; i < n; i++) {
            th[i] = th[i - 1] + uint64(bound(uint256(keccak256(abi.encode(seed, i))), 1, 1000));
        }
        for (uint256 i = 0; i < n; i++) pr[i] = uint128(uint256(keccak256(abi.encode(seed, i, "p"))));
        uint256 id = registerAs(owner, _tiered(keccak256(abi.encode(seed)), th, pr));
        count = bound(count, 0, uint256(th[n - 1]) + 10);
        uint256 want = pr[0];
        for (uint256 i = 0; i < n; i++) if (th[i] <= count) want = pr[i];
        vm.assertEq(registry.priceFor(id, count), want, "price");
    }

    // Registration validation: zero and duplicate cid, size class, access, bps and DAO pairing.
    function test_registrationValidation() public {
        vm.expectRevert(ModelRegistry.ZeroCid.selector);
        registerAs(owner, _reg(bytes32(0), 0));
        uint256 id = registerAs(owner, _reg(keccak256("x"), 0));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.CidAlreadyRegistered.selector, keccak256("x"), id));
        registerAs(other, _reg(keccak256("x"), 0));
        ModelRegistry.Registration memory p = _reg(keccak256("y"), 0);
        p.sizeClass = 4;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadSizeClass.selector, uint8(4)));
        registerAs(owner, p);
        p = _reg(keccak256("y"), 0);
        p.access = 2;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadAccess.selector, uint8(2)));
        registerAs(owner, p);
        p = _reg(keccak256("y"), 0);
        p.remixShareBps = 10_001;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadBps.selector, uint16(10_001)));
        registerAs(owner, p);
        p = _reg(keccak256("y"), 0);
        (p.daoTreasury, p.daoShareBps) = (dao, 10_001);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadBps.selector, uint16(10_001)));
        registerAs(owner, p);
        (p.daoTreasury, p.daoShareBps) = (dao, 0);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadDao.selector, dao, uint16(0)));
        registerAs(owner, p);
        (p.daoTreasury, p.daoShareBps) = (address(0), 100);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadDao.selector, address(0), uint16(100)));
        registerAs(owner, p);
        (p.daoTreasury, p.daoShareBps) = (dao, 10_000);
        uint256 ok = registerAs(owner, p);
        vm.assertEq(registry.modelIdOf(keccak256("y")), ok, "modelIdOf");
        vm.assertEq(registry.modelCount(), 2, "modelCount");
    }

    // Only the model's owner changes its terms; only a curator sets the kind; transfer moves ownership.
    function test_onlyOwnerChangesTerms() public {
        uint256 id = registerAs(owner, _reg(keccak256("m"), 0));
        uint64[] memory th = new uint64[](0);
        uint128[] memory pr = new uint128[](0);
        bytes memory notOwner = abi.encodeWithSelector(ModelRegistry.NotModelOwner.selector, id, other);
        vm.startPrank(other);
        vm.expectRevert(notOwner);
        registry.setPricing(id, 0, 5, th, pr);
        vm.expectRevert(notOwner);
        registry.setAccess(id, 1);
        vm.expectRevert(notOwner);
        registry.grantAccess(id, other);
        vm.expectRevert(notOwner);
        registry.revokeAccess(id, other);
        vm.expectRevert(notOwner);
        registry.setLicense(id, false, 0);
        vm.expectRevert(notOwner);
        registry.setDao(id, dao, 1);
        vm.expectRevert(notOwner);
        registry.transferModel(id, other);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, uint256(42)));
        registry.setAccess(42, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, other, registry.CURATOR_ROLE())
        );
        registry.setKind(id, 1);
        vm.stopPrank();

        registry.setKind(id, 1);
        vm.assertEq(registry.getModel(id).kind, 1, "curated");
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadKind.selector, uint8(2)));
        registry.setKind(id, 2);

        vm.prank(owner);
        registry.transferModel(id, other);
        vm.assertEq(registry.terms(id).owner, other, "new owner");
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.NotModelOwner.selector, id, owner));
        vm.prank(owner);
        registry.setAccess(id, 1);
        vm.prank(other);
        registry.setAccess(id, 1);
        vm.assertFalse(registry.hasAccess(id, owner), "old owner keeps access");
        vm.assertTrue(registry.hasAccess(id, other), "owner lacks access");
    }
}
