// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @title Curation: signals (LIKE, STAR, FORK, CITE) on models and assets, weighted by staked $ART.
/// @notice A stake stays locked for `cooldown` seconds after it is placed; then its curator may
/// remove the signal and take the stake back.
contract Curation is ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint8 public constant TARGET_MODEL = 0;
    uint8 public constant TARGET_ASSET = 1;
    uint8 public constant LIKE = 0;
    uint8 public constant STAR = 1;
    uint8 public constant FORK = 2;
    uint8 public constant CITE = 3;

    struct Signal {
        address curator;
        uint8 targetKind;
        uint8 kind;
        bool active;
        uint64 createdAt;
        uint128 amount;
        bytes32 target;
    }

    event Signaled(
        uint256 indexed signalId,
        address indexed curator,
        uint8 targetKind,
        bytes32 indexed target,
        uint8 kind,
        uint256 amount
    );
    event Unsignaled(uint256 indexed signalId, address indexed curator, uint256 amount);

    error ZeroAmount();
    error BadTargetKind(uint8 targetKind);
    error BadSignalKind(uint8 kind);
    error UnknownModel(uint256 modelId);
    error NotCurator(uint256 signalId, address caller);
    error NotActive(uint256 signalId);
    error CoolingDown(uint256 signalId, uint64 unlockAt);

    IERC20 public immutable token;
    ModelRegistry public immutable registry;
    uint64 public immutable cooldown;

    uint256 public signalCount;
    uint256 public totalStaked;
    mapping(uint256 => Signal) public signals;
    mapping(address => uint256) public stakedBy;

    constructor(IERC20 token_, ModelRegistry registry_, uint64 cooldown_) {
        token = token_;
        registry = registry_;
        cooldown = cooldown_;
    }

    function signal(uint8 targetKind, bytes32 target, uint8 kind, uint128 amount)
        external
        nonReentrant
        returns (uint256 signalId)
    {
        if (amount == 0) revert ZeroAmount();
        if (targetKind > TARGET_ASSET) revert BadTargetKind(targetKind);
        if (kind > CITE) revert BadSignalKind(kind);
        if (targetKind == TARGET_MODEL && !registry.exists(uint256(target))) revert UnknownModel(uint256(target));
        token.safeTransferFrom(msg.sender, address(this), amount);
        signalId = ++signalCount;
        signals[signalId] = Signal(msg.sender, targetKind, kind, true, uint64(block.timestamp), amount, target);
        totalStaked += amount;
        stakedBy[msg.sender] += amount;
        emit Signaled(signalId, msg.sender, targetKind, target, kind, amount);
    }

    function unsignal(uint256 signalId) external nonReentrant {
        Signal storage s = signals[signalId];
        if (s.curator != msg.sender) revert NotCurator(signalId, msg.sender);
        if (!s.active) revert NotActive(signalId);
        uint64 unlockAt = s.createdAt + cooldown;
        if (block.timestamp < unlockAt) revert CoolingDown(signalId, unlockAt);
        s.active = false;
        uint256 amount = s.amount;
        totalStaked -= amount;
        stakedBy[msg.sender] -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Unsignaled(signalId, msg.sender, amount);
    }
}
