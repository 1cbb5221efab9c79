// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title Reward distributor: one Merkle root per epoch, claimed with proofs.
/// @notice Leaves are OpenZeppelin StandardMerkleTree leaves of (uint256 epoch, address account,
/// uint256 amount): keccak256(bytes.concat(keccak256(abi.encode(epoch, account, amount)))).
/// The double hash keeps a 64-byte internal node from ever passing as a leaf.
contract RewardDistributor is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant REWARDS_ROLE = keccak256("REWARDS_ROLE");

    struct Epoch {
        bytes32 root;
        uint64 fromBlock;
        uint64 toBlock;
        uint128 total;
        uint128 claimed;
    }

    event EpochPublished(uint256 indexed epoch, uint64 fromBlock, uint64 toBlock, uint256 total, bytes32 root);
    event Claimed(uint256 indexed epoch, address indexed account, uint256 amount);

    error EpochExists(uint256 epoch);
    error UnknownEpoch(uint256 epoch);
    error ZeroRoot();
    error BadBlockRange(uint64 fromBlock, uint64 toBlock);
    error AlreadyClaimed(uint256 epoch, address account);
    error InvalidProof(uint256 epoch, address account, uint256 amount);
    error ExceedsEpochTotal(uint256 epoch, uint256 claimed, uint256 total);

    IERC20 public immutable token;
    mapping(uint256 => Epoch) public epochs;
    mapping(uint256 => mapping(address => bool)) public claimed;

    constructor(IERC20 token_, address admin) {
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REWARDS_ROLE, admin);
    }

    /// @notice Publishes an epoch's root and pulls its total from the publisher.
    function publishEpoch(uint256 epoch, uint64 fromBlock, uint64 toBlock, uint128 total, bytes32 root)
        external
        onlyRole(REWARDS_ROLE)
        nonReentrant
    {
        if (root == bytes32(0)) revert ZeroRoot();
        if (epochs[epoch].root != bytes32(0)) revert EpochExists(epoch);
        if (fromBlock > toBlock) revert BadBlockRange(fromBlock, toBlock);
        epochs[epoch] = Epoch(root, fromBlock, toBlock, total, 0);
        token.safeTransferFrom(msg.sender, address(this), total);
        emit EpochPublished(epoch, fromBlock, toBlock, total, root);
    }

    /// @notice Pays `amount` to `account` for `epoch` if the proof holds; anyone may submit it.
    function claim(uint256 epoch, address account, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        Epoch storage e = epochs[epoch];
        if (e.root == bytes32(0)) revert UnknownEpoch(epoch);
        if (claimed[epoch][account]) revert AlreadyClaimed(epoch, account);
        if (!MerkleProof.verifyCalldata(proof, e.root, leafHash(epoch, account, amount))) {
            revert InvalidProof(epoch, account, amount);
        }
        uint256 after_ = uint256(e.claimed) + amount;
        if (after_ > e.total) revert ExceedsEpochTotal(epoch, after_, e.total);
        claimed[epoch][account] = true;
        e.claimed = uint128(after_);
        token.safeTransfer(account, amount);
        emit Claimed(epoch, account, amount);
    }

    function leafHash(uint256 epoch, address account, uint256 amount) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(epoch, account, amount))));
    }

    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
