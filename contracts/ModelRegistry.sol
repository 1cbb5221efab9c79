// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title The model registry: models by content digest, with their owners' monetization terms.
/// @notice Every change emits an event, so the terms of any model at any block can be replayed.
contract ModelRegistry is AccessControl {
    bytes32 public constant CURATOR_ROLE = keccak256("CURATOR_ROLE");

    uint8 public constant KIND_CUSTOM = 0;
    uint8 public constant KIND_CURATED = 1;
    uint8 public constant ACCESS_PUBLIC = 0;
    uint8 public constant ACCESS_ALLOWLIST = 1;
    uint8 public constant PRICING_FIXED = 0;
    uint8 public constant PRICING_TIERED = 1;
    uint8 public constant MAX_REMIX_DEPTH = 8;
    uint8 public constant MAX_TIERS = 16;
    uint16 internal constant BPS = 10_000;

    struct Model {
        bytes32 cid;
        address owner;
        uint8 kind;
        uint8 sizeClass;
        uint8 access;
        uint8 pricingKind;
        uint8 depth;
        bool remixAllowed;
        uint16 remixShareBps;
        uint16 daoShareBps;
        address daoTreasury;
        uint64 parentId;
        uint128 fixedPrice;
    }

    struct Registration {
        bytes32 cid;
        uint8 sizeClass;
        uint8 access;
        uint64 parentId;
        bool remixAllowed;
        uint16 remixShareBps;
        address daoTreasury;
        uint16 daoShareBps;
        uint8 pricingKind;
        uint128 fixedPrice;
        uint64[] thresholds;
        uint128[] prices;
    }

    /// @notice What the ledger needs to price and settle an execution, read in one call.
    struct Terms {
        address owner;
        uint8 sizeClass;
        uint8 access;
        uint8 pricingKind;
        uint16 daoShareBps;
        address daoTreasury;
        uint64 parentId;
        uint128 fixedPrice;
    }

    event ModelRegistered(
        uint256 indexed modelId, bytes32 indexed cid, address indexed owner, uint64 parentId, uint8 sizeClass, uint8 depth
    );
    event PricingSet(
        uint256 indexed modelId, uint8 pricingKind, uint128 fixedPrice, uint64[] thresholds, uint128[] prices
    );
    event AccessSet(uint256 indexed modelId, uint8 access);
    event AccessGranted(uint256 indexed modelId, address indexed account);
    event AccessRevoked(uint256 indexed modelId, address indexed account);
    event LicenseSet(uint256 indexed modelId, bool remixAllowed, uint16 remixShareBps);
    event DaoSet(uint256 indexed modelId, address daoTreasury, uint16 daoShareBps);
    event KindSet(uint256 indexed modelId, uint8 kind);
    event ModelTransferred(uint256 indexed modelId, address indexed from, address indexed to);

    error CidAlreadyRegistered(bytes32 cid, uint256 modelId);
    error ZeroCid();
    error UnknownModel(uint256 modelId);
    error NotModelOwner(uint256 modelId, address caller);
    error BadSizeClass(uint8 sizeClass);
    error BadAccess(uint8 access);
    error BadKind(uint8 kind);
    error BadBps(uint16 bps);
    error BadDao(address treasury, uint16 shareBps);
    error BadPricing(string why);
    error RemixNotAllowed(uint256 parentId);
    error RemixTooDeep(uint256 parentId, uint8 depth);
    error ZeroAddress();

    uint256 public modelCount;
    mapping(uint256 => Model) internal _models;
    mapping(bytes32 => uint256) public modelIdOf;
    mapping(uint256 => uint64[]) internal _thresholds;
    mapping(uint256 => uint128[]) internal _prices;
    mapping(uint256 => mapping(address => bool)) public allowed;

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(CURATOR_ROLE, admin);
    }

    modifier onlyModelOwner(uint256 modelId) {
        address owner = _models[modelId].owner;
        if (owner == address(0)) revert UnknownModel(modelId);
        if (owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        _;
    }

    function register(Registration calldata p) external returns (uint256 modelId) {
        if (p.cid == bytes32(0)) revert ZeroCid();
        uint256 existing = modelIdOf[p.cid];
        if (existing != 0) revert CidAlreadyRegistered(p.cid, existing);
        if (p.sizeClass > 3) revert BadSizeClass(p.sizeClass);
        uint8 depth = 0;
        if (p.parentId != 0) {
            Model storage parent = _models[p.parentId];
            if (parent.owner == address(0)) revert UnknownModel(p.parentId);
            if (!parent.remixAllowed) revert RemixNotAllowed(p.parentId);
            if (parent.depth >= MAX_REMIX_DEPTH) revert RemixTooDeep(p.parentId, parent.depth + 1);
            depth = parent.depth + 1;
        }
        modelId = ++modelCount;
        modelIdOf[p.cid] = modelId;
        Model storage m = _models[modelId];
        m.cid = p.cid;
        m.owner = msg.sender;
        m.kind = KIND_CUSTOM;
        m.sizeClass = p.sizeClass;
        m.depth = depth;
        m.parentId = p.parentId;
        emit ModelRegistered(modelId, p.cid, msg.sender, p.parentId, p.sizeClass, depth);
        _setPricing(modelId, p.pricingKind, p.fixedPrice, p.thresholds, p.prices);
        _setAccess(modelId, p.access);
        _setLicense(modelId, p.remixAllowed, p.remixShareBps);
        _setDao(modelId, p.daoTreasury, p.daoShareBps);
    }

    function setPricing(
        uint256 modelId,
        uint8 pricingKind,
        uint128 fixedPrice,
        uint64[] calldata thresholds,
        uint128[] calldata prices
    ) external onlyModelOwner(modelId) {
        _setPricing(modelId, pricingKind, fixedPrice, thresholds, prices);
    }

    function setAccess(uint256 modelId, uint8 access) external onlyModelOwner(modelId) {
        _setAccess(modelId, access);
    }

    function grantAccess(uint256 modelId, address account) external onlyModelOwner(modelId) {
        if (account == address(0)) revert ZeroAddress();
        allowed[modelId][account] = true;
        emit AccessGranted(modelId, account);
    }

    function revokeAccess(uint256 modelId, address account) external onlyModelOwner(modelId) {
        allowed[modelId][account] = false;
        emit AccessRevoked(modelId, account);
    }

    function setLicense(uint256 modelId, bool remixAllowed, uint16 remixShareBps)
        external
        onlyModelOwner(modelId)
    {
        _setLicense(modelId, remixAllowed, remixShareBps);
    }

    function setDao(uint256 modelId, address daoTreasury, uint16 daoShareBps) external onlyModelOwner(modelId) {
        _setDao(modelId, daoTreasury, daoShareBps);
    }

    function transferModel(uint256 modelId, address to) external onlyModelOwner(modelId) {
        if (to == address(0)) revert ZeroAddress();
        _models[modelId].owner = to;
        emit ModelTransferred(modelId, msg.sender, to);
    }

    function setKind(uint256 modelId, uint8 kind) external onlyRole(CURATOR_ROLE) {
        if (_models[modelId].owner == address(0)) revert UnknownModel(modelId);
        if (kind > KIND_CURATED) revert BadKind(kind);
        _models[modelId].kind = kind;
        emit KindSet(modelId, kind);
    }

    // ---- views ----

    function exists(uint256 modelId) external view returns (bool) {
        return _models[modelId].owner != address(0);
    }

    function getModel(uint256 modelId) external view returns (Model memory) {
        return _models[modelId];
    }

    function tiers(uint256 modelId) external view returns (uint64[] memory, uint128[] memory) {
        return (_thresholds[modelId], _prices[modelId]);
    }

    function terms(uint256 modelId) external view returns (Terms memory t) {
        Model storage m = _models[modelId];
        t = Terms({
            owner: m.owner,
            sizeClass: m.sizeClass,
            access: m.access,
            pricingKind: m.pricingKind,
            daoShareBps: m.daoShareBps,
            daoTreasury: m.daoTreasury,
            parentId: m.parentId,
            fixedPrice: m.fixedPrice
        });
    }

    /// @notice The owner, parent and license share of a model: one step of the remix walk.
    function remixLink(uint256 modelId) external view returns (address owner, uint64 parentId, uint16 remixShareBps) {
        Model storage m = _models[modelId];
        return (m.owner, m.parentId, m.remixShareBps);
    }

    /// @notice TIERED price for a user with `priorCount` prior executions: the last tier whose
    /// threshold is at most the count. FIXED models return their fixed price.
    function priceFor(uint256 modelId, uint256 priorCount) external view returns (uint256) {
        Model storage m = _models[modelId];
        if (m.pricingKind == PRICING_FIXED) return m.fixedPrice;
        uint64[] storage th = _thresholds[modelId];
        uint256 i = th.length - 1;
        while (th[i] > priorCount) i--;
        return _prices[modelId][i];
    }

    function hasAccess(uint256 modelId, address user) external view returns (bool) {
        Model storage m = _models[modelId];
        return m.access == ACCESS_PUBLIC || m.owner == user || allowed[modelId][user];
    }

    // ---- internals ----

    function _setPricing(
        uint256 modelId,
        uint8 pricingKind,
        uint128 fixedPrice,
        uint64[] calldata thresholds,
        uint128[] calldata prices
    ) internal {
        if (pricingKind == PRICING_FIXED) {
            if (thresholds.length != 0 || prices.length != 0) revert BadPricing("fixed pricing takes no tiers");
            delete _thresholds[modelId];
            delete _prices[modelId];
        } else if (pricingKind == PRICING_TIERED) {
            uint256 n = thresholds.length;
            if (n == 0 || n > MAX_TIERS) revert BadPricing("tier count must be 1..16");
            if (prices.length != n) revert BadPricing("one price per threshold");
            if (thresholds[0] != 0) revert BadPricing("first threshold must be 0");
            if (fixedPrice != 0) revert BadPricing("tiered pricing takes no fixed price");
            for (uint256 i = 1; i < n; i++) {
                if (thresholds[i] <= thresholds[i - 1]) revert BadPricing("thresholds must ascend strictly");
            }
            _thresholds[modelId] = thresholds;
            _prices[modelId] = prices;
        } else {
            revert BadPricing("unknown pricing kind");
        }
        Model storage m = _models[modelId];
        m.pricingKind = pricingKind;
        m.fixedPrice = fixedPrice;
        emit PricingSet(modelId, pricingKind, fixedPrice, thresholds, prices);
    }

    function _setAccess(uint256 modelId, uint8 access) internal {
        if (access > ACCESS_ALLOWLIST) revert BadAccess(access);
        _models[modelId].access = access;
        emit AccessSet(modelId, access);
    }

    function _setLicense(uint256 modelId, bool remixAllowed, uint16 remixShareBps) internal {
        if (remixShareBps > BPS) revert BadBps(remixShareBps);
        Model storage m = _models[modelId];
        m.remixAllowed = remixAllowed;
        m.remixShareBps = remixShareBps;
        emit LicenseSet(modelId, remixAllowed, remixShareBps);
    }

    function _setDao(uint256 modelId, address daoTreasury, uint16 daoShareBps) internal {
        if (daoShareBps > BPS) revert BadBps(daoShareBps);
        if ((daoTreasury == address(0)) != (daoShareBps == 0)) revert BadDao(daoTreasury, daoShareBps);
        Model storage m = _models[modelId];
        m.daoTreasury = daoTreasury;
        m.daoShareBps = daoShareBps;
        emit DaoSet(modelId, daoTreasury, daoShareBps);
    }
}
