// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture, TestLib} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {Metering} from "../Metering.sol";
import {ExecutionLedger} from "../ExecutionLedger.sol";
import {Feedback} from "../Feedback.sol";

/// @notice Feedback: only the request's user, once per (user, nonce), rating 1..5, only executed nonces.
contract FeedbackTest is Fixture {
    uint256 internal constant ALICE_PK = 0xA11CE;
    address internal alice;
    address internal bob = address(0xB0B);
    uint256 internal model;

    event Rated(bytes32 indexed executionId, address indexed user, uint256 indexed modelId, uint8 rating);

    function setUp() public {
        deployAll();
        alice = vm.addr(ALICE_PK);
        model = registerAs(creator, fixedModel(keccak256("model"), 1e18, 0));
        fund(alice, 100e18);
    }

    function _executed(uint256 nonce) internal returns (ExecutionLedger.InferenceRequest memory q) {
        q = TestLib.request(alice, model, nonce, type(uint256).max, block.timestamp + 1, 0);
        record(one(item(ALICE_PK, q, TestLib.meter(1, 1, 1, 1, 0))));
        vm.assertTrue(ledger.nonceUsed(alice, nonce), "setup: not executed");
    }

    // The user of an executed request rates it once; the event carries the execution id of the request.
    function test_userRatesOnce() public {
        ExecutionLedger.InferenceRequest memory q = _executed(1);
        vm.recordLogs();
        vm.prank(alice);
        bytes32 id = feedback.rate(q, 5);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(id, TestLib.digest(q, block.chainid, address(ledger)), "returned id");
        vm.assertEq(logs.length, 1, "one event");
        vm.assertEq(logs[0].topics[0], Rated.selector, "Rated signature");
        vm.assertEq(logs[0].topics[1], id, "event id");
        vm.assertEq(abi.decode(logs[0].data, (uint8)), 5, "event rating");
        vm.assertTrue(feedback.rated(alice, 1), "rated flag");
        vm.expectRevert(abi.encodeWithSelector(Feedback.AlreadyRated.selector, alice, uint256(1)));
        vm.prank(alice);
        feedback.rate(q, 4);
        // Made-up fields on the same nonce do not buy a second rating.
        q.inputDigest = keccak256("made up");
        vm.expectRevert(abi.encodeWithSelector(Feedback.AlreadyRated.selector, alice, uint256(1)));
        vm.prank(alice);
        feedback.rate(q, 4);
    }

    // Nobody but the request's user may rate it.
    function test_onlyTheUser() public {
        ExecutionLedger.InferenceRequest memory q = _executed(1);
        vm.expectRevert(abi.encodeWithSelector(Feedback.NotRequestUser.selector, bob, alice));
        vm.prank(bob);
        feedback.rate(q, 3);
        vm.expectRevert(abi.encodeWithSelector(Feedback.NotRequestUser.selector, operator, alice));
        vm.prank(operator);
        feedback.rate(q, 3);
    }

    // Only ratings 1..5 are accepted, for any uint8.
    function testFuzz_ratingRange(uint8 rating) public {
        ExecutionLedger.InferenceRequest memory q = _executed(1);
        if (rating < 1 || rating > 5) {
            vm.expectRevert(abi.encodeWithSelector(Feedback.BadRating.selector, rating));
        }
        vm.prank(alice);
        feedback.rate(q, rating);
    }

    // A nonce that was never executed (unused, or only rejected) cannot be rated.
    function test_onlyExecutedNonces() public {
        ExecutionLedger.InferenceRequest memory q =
            TestLib.request(alice, model, 9, type(uint256).max, block.timestamp + 1, 0);
        vm.expectRevert(abi.encodeWithSelector(Feedback.NotExecuted.selector, alice, uint256(9)));
        vm.prank(alice);
        feedback.rate(q, 3);
        // A rejected item (bad priority) leaves the nonce unused.
        q.priority = 7;
        record(one(item(ALICE_PK, q, TestLib.meter(1, 1, 1, 1, 0))));
        vm.expectRevert(abi.encodeWithSelector(Feedback.NotExecuted.selector, alice, uint256(9)));
        vm.prank(alice);
        feedback.rate(q, 3);
    }
}
