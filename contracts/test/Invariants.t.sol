// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {InvariantBase} from "./utils/TestBase.sol";
import {ProtocolHandler} from "./utils/ProtocolHandler.sol";

/// @notice Invariant suite: the handler drives every user-facing action; these properties hold after every call.
contract ProtocolInvariants is Fixture, InvariantBase {
    ProtocolHandler internal handler;

    function setUp() public {
        deployAll();
        address operatorB = address(0x0FE2);
        handler = ProtocolHandler(
            vm.deployCode(
                "ProtocolHandler.sol:ProtocolHandler",
                abi.encode(token, registry, ledger, curation, feedback, distributor, operator, operatorB, treasury, dao)
            )
        );
        ledger.grantRole(ledger.OPERATOR_ROLE(), operatorB);
        ledger.grantRole(ledger.GOVERNOR_ROLE(), address(handler));
        token.grantRole(token.MINTER_ROLE(), address(handler));
        distributor.grantRole(distributor.REWARDS_ROLE(), address(handler));

        bytes4[] memory s = new bytes4[](14);
        s[0] = ProtocolHandler.deposit.selector;
        s[1] = ProtocolHandler.requestWithdrawal.selector;
        s[2] = ProtocolHandler.executeWithdrawal.selector;
        s[3] = ProtocolHandler.withdrawCredits.selector;
        s[4] = ProtocolHandler.recordBatch.selector;
        s[5] = ProtocolHandler.recordBatch.selector; // weight: batches are the core of the ledger
        s[6] = ProtocolHandler.rate.selector;
        s[7] = ProtocolHandler.signal.selector;
        s[8] = ProtocolHandler.unsignal.selector;
        s[9] = ProtocolHandler.publishEpoch.selector;
        s[10] = ProtocolHandler.claim.selector;
        s[11] = ProtocolHandler.setRates.selector;
        s[12] = ProtocolHandler.skipTime.selector;
        s[13] = ProtocolHandler.donate.selector;
        // Every user starts with some escrow (through the handler, so the ghosts see it).
        for (uint256 i = 0; i < handler.usersLength(); i++) handler.deposit(i, 20e18);
        targetContract(address(handler));
        targetSelector(address(handler), s);
    }

    // Every handler action runs without reverting from a fresh state, and the handler saw executions and rejections.
    function test_handlerActionsRun() public {
        for (uint256 i = 0; i < 5; i++) handler.deposit(i, 5e18);
        for (uint256 i = 0; i < 6; i++) handler.recordBatch(i, 6, i);
        vm.assertGt(handler.executions(), 0, "no execution");
        vm.assertGt(handler.rejections(), 0, "no rejection");
        handler.withdrawCredits(0);
        handler.rate(0, 3);
        handler.requestWithdrawal(1, 1e18);
        handler.executeWithdrawal(1, 2 hours);
        handler.signal(1, 1, 0, 1e18);
        handler.unsignal(0, 2 days, false);
        handler.publishEpoch(1, 4, 1);
        handler.claim(0, 1);
        handler.setRates(12345);
        handler.skipTime(1);
        handler.donate(1);
        vm.assertEq(handler.failures(), 0, handler.lastFailure());
    }

    /// @dev forge calls this at the end of each invariant run: a summary of what the run exercised (shown with -vv).
    function afterInvariant() public {
        emit log_named_uint("executions", handler.executions());
        emit log_named_uint("rejections", handler.rejections());
        for (uint256 r = 1; r < 9; r++) emit log_named_uint("  rejected with reason", r * 1e6 + handler.rejectionsByReason(r));
        emit log_named_uint("claims", handler.claims());
        emit log_named_uint("second claim attempts (all reverted)", handler.secondClaimAttempts());
        emit log_named_uint("signals", curation.signalCount());
    }

    // Conservation: deposits == escrow + owed + paid out; escrow and owed totals equal the sums over every account.
    function invariant_conservation() public view {
        uint256 escrow = ledger.totalEscrow();
        uint256 owed = ledger.totalOwed();
        vm.assertEq(ledger.totalDeposited(), escrow + owed + ledger.totalPaidOut(), "deposited != escrow+owed+paid");
        uint256 sumEscrow;
        for (uint256 i = 0; i < handler.usersLength(); i++) sumEscrow += ledger.escrowOf(handler.users(i));
        vm.assertEq(sumEscrow, escrow, "totalEscrow != sum of escrowOf");
        uint256 sumOwed;
        for (uint256 i = 0; i < handler.recipientsLength(); i++) sumOwed += ledger.owed(handler.recipients(i));
        vm.assertEq(sumOwed, owed, "totalOwed != sum of owed");
        vm.assertEq(ledger.totalDeposited(), handler.ghostDeposited(), "totalDeposited != ghost deposits");
        vm.assertEq(
            ledger.totalPaidOut(),
            handler.ghostEscrowWithdrawn() + handler.ghostCreditsWithdrawn(),
            "totalPaidOut != ghost payouts"
        );
    }

    // Solvency: the ledger holds at least escrow + owed (exactly that plus direct donations).
    function invariant_solvency() public view {
        uint256 balance = token.balanceOf(address(ledger));
        uint256 liabilities = ledger.totalEscrow() + ledger.totalOwed();
        vm.assertGe(balance, liabilities, "ledger insolvent");
        vm.assertEq(balance, liabilities + handler.ghostDonated(), "unexplained ledger balance");
    }

    // Exact splits: every cost charged is credited in full (ghost sums of InferenceExecuted costs and Settlement amounts).
    function invariant_exactSplits() public view {
        uint256 charged = handler.ghostCharged();
        vm.assertEq(charged, handler.ghostCredited(), "sum of costs != sum of credits");
        vm.assertEq(charged, ledger.totalOwed() + handler.ghostCreditsWithdrawn(), "charged != owed + credits paid");
        vm.assertEq(
            handler.ghostDeposited(),
            ledger.totalEscrow() + handler.ghostEscrowWithdrawn() + charged,
            "deposits != escrow + escrow paid + charged"
        );
    }

    // No (user, nonce) executes twice, and every executed nonce reads as used on the ledger.
    function invariant_noDoubleExecution() public view {
        vm.assertEq(handler.doubleExecutions(), 0, "a nonce executed twice");
        uint256 n = handler.executedLength();
        for (uint256 i = 0; i < n; i++) {
            (address user, uint256 nonce) = handler.executedAt(i);
            vm.assertTrue(ledger.nonceUsed(user, nonce), "executed nonce not marked used");
        }
    }

    // No double claim: every second claim of the same account in an epoch reverted.
    function invariant_noDoubleClaim() public view {
        vm.assertEq(handler.doubleClaims(), 0, "a second claim paid");
    }

    // For every epoch, claimed <= total and claimed == the ghost sum; the distributor holds exactly the unclaimed rest.
    function invariant_claimedWithinTotal() public view {
        uint256 unclaimed;
        for (uint256 i = 0; i < handler.epochsLength(); i++) {
            uint256 epoch = handler.epochIds(i);
            (,,, uint128 total, uint128 claimed) = distributor.epochs(epoch);
            vm.assertLe(claimed, total, "claimed above the epoch total");
            vm.assertEq(claimed, handler.ghostClaimedOf(epoch), "claimed != ghost claims");
            unclaimed += total - claimed;
        }
        vm.assertEq(token.balanceOf(address(distributor)), unclaimed, "distributor balance != unclaimed");
    }

    // Stake accounting: totalStaked == token balance == sum of active signals == sum of stakedBy == ghost stake.
    function invariant_stakeAccounting() public view {
        uint256 total = curation.totalStaked();
        vm.assertEq(token.balanceOf(address(curation)), total, "curation balance != totalStaked");
        uint256 active;
        for (uint256 id = 1; id <= curation.signalCount(); id++) {
            (,,, bool isActive,, uint128 amount,) = curation.signals(id);
            if (isActive) active += amount;
        }
        vm.assertEq(active, total, "sum of active signals != totalStaked");
        uint256 byCurator;
        for (uint256 i = 0; i < 4; i++) byCurator += curation.stakedBy(handler.users(i));
        vm.assertEq(byCurator, total, "sum of stakedBy != totalStaked");
        vm.assertEq(handler.ghostActiveStake(), total, "ghost stake != totalStaked");
    }

    // Every per-call expectation of the handler held (reasons, payouts, cooldowns, ratings, claim rules).
    function invariant_handlerExpectations() public view {
        vm.assertEq(handler.failures(), 0, handler.lastFailure());
    }
}
