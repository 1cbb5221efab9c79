// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionLedger} from "./ExecutionLedger.sol";

/// @title Feedback: the user of an execution rates it once, from 1 to 5.
/// @notice An execution is identified by its signed request. A (user, nonce) pair is executed at
/// most once on the ledger, so "one rating per (user, nonce)" is "one rating per execution"
/// without an on-chain record per execution (see docs/PROTOCOL.md).
contract Feedback {
    event Rated(bytes32 indexed executionId, address indexed user, uint256 indexed modelId, uint8 rating);

    error NotRequestUser(address caller, address user);
    error BadRating(uint8 rating);
    error NotExecuted(address user, uint256 nonce);
    error AlreadyRated(address user, uint256 nonce);

    ExecutionLedger public immutable ledger;
    mapping(address => mapping(uint256 => uint256)) internal _ratedBitmap;

    constructor(ExecutionLedger ledger_) {
        ledger = ledger_;
    }

    function rate(ExecutionLedger.InferenceRequest calldata request, uint8 rating) external returns (bytes32 id) {
        if (msg.sender != request.user) revert NotRequestUser(msg.sender, request.user);
        if (rating < 1 || rating > 5) revert BadRating(rating);
        if (!ledger.nonceUsed(request.user, request.nonce)) revert NotExecuted(request.user, request.nonce);
        uint256 wordIndex = request.nonce >> 8;
        uint256 bit = 1 << (request.nonce & 0xff);
        uint256 word = _ratedBitmap[msg.sender][wordIndex];
        if (word & bit != 0) revert AlreadyRated(request.user, request.nonce);
        _ratedBitmap[msg.sender][wordIndex] = word | bit;
        id = ledger.executionId(request);
        emit Rated(id, msg.sender, request.modelId, rating);
    }

    function rated(address user, uint256 nonce) external view returns (bool) {
        return _ratedBitmap[user][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }
}
