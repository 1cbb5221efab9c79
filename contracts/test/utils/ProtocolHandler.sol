// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./TestBase.sol";
import {Vm} from "./Vm.sol";
import {TestLib} from "./Fixture.sol";
import {MockWallet} from "./MockWallet.sol";
import {ArtToken} from "../../ArtToken.sol";
import {ModelRegistry} from "../../ModelRegistry.sol";
import {ExecutionLedger} from "../../ExecutionLedger.sol";
import {Metering} from "../../Metering.sol";
import {Curation} from "../../Curation.sol";
import {Feedback} from "../../Feedback.sol";
import {RewardDistributor} from "../../RewardDistributor.sol";

/// @notice Drives the whole protocol for the invariant suite: deposits, escrow withdrawals, signed batches with valid and
/// invalid items from several users (one an EIP-1271 wallet), credit withdrawals, curation signals, reward epochs and
/// claims, ratings and rate changes. It keeps ghost totals, and counts every broken expectation in `failures`.
contract ProtocolHandler is TestBase {
    ArtToken internal immutable token;
    ModelRegistry internal immutable registry;
    ExecutionLedger internal immutable ledger;
    Curation internal immutable curation;
    Feedback internal immutable feedback;
    RewardDistributor internal immutable distributor;

    bytes32 internal constant EXECUTED_SIG = keccak256(
        "InferenceExecuted(bytes32,uint256,address,address,bytes32,bytes32,bytes32,uint8,(uint64,uint64,uint64,uint64,uint32),uint256,uint32)"
    );
    bytes32 internal constant SETTLEMENT_SIG = keccak256("Settlement(bytes32,address,uint8,uint256)");
    bytes32 internal constant REJECTED_SIG = keccak256("ExecutionRejected(bytes32,address,uint256,address,uint8)");

    uint256 public time = 1_000_000;
    address[] public users;
    mapping(address => uint256) internal pkOf;
    address[] public operators;
    address[] public recipients;
    mapping(address => bool) public isRecipient;
    uint256[] public models;
    uint256 public allowlistModel;
    uint256 internal nextFreshNonce = 1 << 128;

    // ---- ghosts ----
    uint256 public ghostDeposited;
    uint256 public ghostEscrowWithdrawn;
    uint256 public ghostCreditsWithdrawn;
    uint256 public ghostCharged;
    uint256 public ghostCredited;
    uint256 public ghostDonated;
    uint256 public ghostActiveStake;
    uint256 public executions;
    uint256 public rejections;
    uint256[9] public rejectionsByReason;
    uint256 public doubleExecutions;
    mapping(address => mapping(uint256 => bool)) public ghostExecuted;
    ExecutionLedger.InferenceRequest[] internal executed;
    mapping(address => mapping(uint256 => bool)) internal ghostRated;
    uint256[] public signalIds;
    uint256[] public epochIds;
    mapping(uint256 => bytes32[]) internal leavesOf;
    mapping(uint256 => address[]) internal accountsOf;
    mapping(uint256 => uint256[]) internal amountsOf;
    mapping(uint256 => uint256) public ghostClaimedOf;
    mapping(uint256 => mapping(address => bool)) public ghostClaimed;
    uint256 public claims;
    uint256 public secondClaimAttempts;
    uint256 public doubleClaims;
    uint256 public failures;
    string public lastFailure;

    constructor(
        ArtToken token_,
        ModelRegistry registry_,
        ExecutionLedger ledger_,
        Curation curation_,
        Feedback feedback_,
        RewardDistributor distributor_,
        address operatorA,
        address operatorB,
        address treasury,
        address dao
    ) {
        token = token_;
        registry = registry_;
        ledger = ledger_;
        curation = curation_;
        feedback = feedback_;
        distributor = distributor_;
        vm.warp(time);
        for (uint256 i = 0; i < 4; i++) {
            uint256 pk = 0x1001 + i;
            users.push(vm.addr(pk));
            pkOf[vm.addr(pk)] = pk;
        }
        MockWallet wallet = new MockWallet(vm.addr(0x2001));
        users.push(address(wallet));
        pkOf[address(wallet)] = 0x2001;
        operators.push(operatorA);
        operators.push(operatorB);
        address[3] memory owners = [address(0x0A1), address(0x0A2), address(0x0A3)];
        _recipient(operatorA);
        _recipient(operatorB);
        _recipient(treasury);
        _recipient(dao);
        for (uint256 i = 0; i < 3; i++) _recipient(owners[i]);

        ModelRegistry.Registration memory p;
        p.cid = keccak256("m0");
        p.remixAllowed = true;
        p.remixShareBps = 2_000;
        p.daoTreasury = dao;
        p.daoShareBps = 1_000;
        p.fixedPrice = 1e17;
        vm.prank(owners[0]);
        models.push(registry.register(p));

        p.cid = keccak256("m1");
        p.sizeClass = 1;
        p.parentId = uint64(models[0]);
        p.remixShareBps = 3_000;
        p.daoTreasury = address(0);
        p.daoShareBps = 0;
        p.fixedPrice = 5e16;
        vm.prank(owners[1]);
        models.push(registry.register(p));

        p.cid = keccak256("m2");
        p.sizeClass = 2;
        p.parentId = uint64(models[1]);
        p.daoTreasury = dao;
        p.daoShareBps = 500;
        p.pricingKind = 1;
        p.fixedPrice = 0;
        p.thresholds = new uint64[](3);
        p.prices = new uint128[](3);
        (p.thresholds[1], p.thresholds[2]) = (3, 10);
        (p.prices[0], p.prices[1], p.prices[2]) = (3e17, 2e17, 1e17);
        vm.prank(owners[2]);
        models.push(registry.register(p));

        ModelRegistry.Registration memory q;
        q.cid = keccak256("m3");
        q.sizeClass = 3;
        q.access = 1;
        q.fixedPrice = 2e17;
        vm.prank(owners[0]);
        allowlistModel = registry.register(q);
        vm.prank(owners[0]);
        registry.grantAccess(allowlistModel, users[0]);
    }

    modifier synced() {
        vm.warp(time);
        _;
    }

    function _recipient(address a) internal {
        if (!isRecipient[a]) {
            isRecipient[a] = true;
            recipients.push(a);
        }
    }

    function _advance(uint256 dt) internal {
        time += dt;
        vm.warp(time);
    }

    function _fail(string memory why) internal {
        failures++;
        lastFailure = why;
    }

    function usersLength() external view returns (uint256) {
        return users.length;
    }

    function recipientsLength() external view returns (uint256) {
        return recipients.length;
    }

    function epochsLength() external view returns (uint256) {
        return epochIds.length;
    }

    function executedLength() external view returns (uint256) {
        return executed.length;
    }

    function executedAt(uint256 i) external view returns (address user, uint256 nonce) {
        return (executed[i].user, executed[i].nonce);
    }

    // ---------------------------------------------------------------- escrow

    function deposit(uint256 u, uint256 amount) external synced {
        address user = users[u % users.length];
        amount = bound(amount, 1, 20e18);
        token.mint(user, amount);
        vm.startPrank(user);
        token.approve(address(ledger), amount);
        ledger.deposit(amount);
        vm.stopPrank();
        ghostDeposited += amount;
    }

    function requestWithdrawal(uint256 u, uint256 amount) external synced {
        address user = users[u % users.length];
        amount = bound(amount, 1, ledger.escrowOf(user) + 1e18);
        vm.prank(user);
        ledger.requestWithdrawal(amount);
    }

    function executeWithdrawal(uint256 u, uint256 dt) external synced {
        _advance(bound(dt, 0, 2 hours));
        address user = users[u % users.length];
        (uint128 requested, uint64 unlockAt) = ledger.pendingWithdrawal(user);
        uint256 escrow = ledger.escrowOf(user);
        uint256 balance = token.balanceOf(user);
        vm.prank(user);
        try ledger.executeWithdrawal() returns (uint256 paid) {
            if (requested == 0 || time < unlockAt) _fail("escrow withdrawal paid while locked or not requested");
            uint256 want = requested < escrow ? requested : escrow;
            if (paid != want || token.balanceOf(user) - balance != paid) _fail("escrow withdrawal amount");
            ghostEscrowWithdrawn += paid;
        } catch {
            if (requested != 0 && time >= unlockAt) _fail("unlocked escrow withdrawal reverted");
        }
    }

    function withdrawCredits(uint256 r) external synced {
        address a = recipients[r % recipients.length];
        uint256 owed = ledger.owed(a);
        vm.prank(a);
        try ledger.withdraw() returns (uint256 paid) {
            if (paid != owed || owed == 0) _fail("credit withdrawal amount");
            ghostCreditsWithdrawn += paid;
        } catch {
            if (owed != 0) _fail("credit withdrawal reverted");
        }
    }

    function donate(uint256 amount) external synced {
        amount = bound(amount, 1, 1e18);
        token.mint(address(ledger), amount);
        ghostDonated += amount;
    }

    function skipTime(uint256 dt) external synced {
        _advance(bound(dt, 1, 3 days));
    }

    function setRates(uint256 seed) external synced {
        Metering.Rates memory r;
        for (uint256 i = 0; i < 4; i++) {
            uint256 h = uint256(keccak256(abi.encode(seed, i)));
            r.unitRate[i] = uint64(h % 1e13);
            r.priorityBps[i] = uint16(bound(h >> 64, 1, 30_000));
        }
        r.gpuRate = uint64((seed >> 8) % 2e9);
        r.latencyRate = uint64((seed >> 40) % 1e7);
        r.storageRate = uint64((seed >> 70) % 1e4);
        r.loadBpsPerUnit = uint32((seed >> 90) % 2_000);
        r.loadCapacity = uint32((seed >> 110) % 16);
        r.maxLoadBps = uint32(bound(seed >> 120, 10_000, 40_000));
        r.operatorBps = uint16((seed >> 150) % 3_001);
        r.treasuryBps = uint16((seed >> 170) % 3_001);
        ledger.setRates(r);
    }

    // ---------------------------------------------------------------- executions

    /// @dev One item; `expect` is the exact reason a deliberately bad item must get, 0 for a well-formed item (which may
    /// still meet NONCE_USED on a reused nonce or INSUFFICIENT_ESCROW).
    function _makeItem(uint256 h) internal returns (ExecutionLedger.Item memory it, uint8 expect) {
        address user = users[h % users.length];
        uint256 pk = pkOf[user];
        uint256 kind = (h >> 8) % 16;
        ExecutionLedger.InferenceRequest memory q = TestLib.request(
            user, models[(h >> 16) % models.length], (h >> 24) % 16, type(uint256).max, time + 1 hours, uint8((h >> 32) % 4)
        );
        it.meter = Metering.Meter(
            uint64((h >> 40) % 5000),
            uint64((h >> 60) % 1e7),
            uint64((h >> 90) % 1e7),
            uint64((h >> 120) % 1e9),
            uint32((h >> 160) % 32)
        );
        uint256 chainId = block.chainid;
        if (kind == 15 && executed.length > 0) {
            q = executed[(h >> 200) % executed.length];
            pk = pkOf[q.user];
            expect = q.deadline < time ? 1 : 2;
        } else if (kind >= 8) {
            q.nonce = nextFreshNonce++;
            q.modelId = models[0];
            if (kind == 8) {
                q.modelId = allowlistModel;
                expect = user == users[0] ? 0 : 6;
            } else if (kind == 9) {
                q.deadline = time - 1 - (h >> 200) % 1000;
                expect = 1;
            } else if (kind == 10) {
                pk = 0xBAD0 + (h >> 200) % 7;
                expect = 5;
            } else if (kind == 11) {
                chainId = block.chainid + 1 + (h >> 200) % 5;
                expect = 5;
            } else if (kind == 12) {
                q.modelId = registry.modelCount() + 1 + (h >> 200) % 5;
                expect = 3;
            } else if (kind == 13) {
                q.priority = uint8(4 + (h >> 200) % 252);
                expect = 4;
            } else {
                q.maxCost = 0;
                expect = 7;
            }
        }
        it.request = q;
        it.signature = TestLib.signDigest(pk, TestLib.digest(q, chainId, address(ledger)));
        it.outputDigest = bytes32(h);
    }

    struct Cursor {
        uint256 k; // next item without an outcome
        bool open; // an execution whose credits are being summed
        uint256 cost;
        uint256 credited;
        bytes32 id;
        uint256 batchCharged;
    }

    function recordBatch(uint256 seed, uint256 n, uint256 opSeed) external synced {
        n = bound(n, 1, 6);
        ExecutionLedger.Item[] memory items = new ExecutionLedger.Item[](n);
        uint8[] memory expect = new uint8[](n);
        bytes32[] memory ids = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            (items[i], expect[i]) = _makeItem(uint256(keccak256(abi.encode(seed, i))));
            ids[i] = TestLib.digest(items[i].request, block.chainid, address(ledger));
        }
        uint256 escrowBefore = ledger.totalEscrow();
        uint256 owedBefore = ledger.totalOwed();
        vm.recordLogs();
        vm.prank(operators[opSeed % operators.length]);
        ledger.recordBatch(items);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        Cursor memory c;
        for (uint256 j = 0; j < logs.length; j++) {
            Vm.Log memory l = logs[j];
            if (l.emitter != address(ledger)) continue;
            bytes32 sig = l.topics[0];
            if (sig == EXECUTED_SIG || sig == REJECTED_SIG) {
                _close(c);
                if (c.k >= n || l.topics[1] != ids[c.k]) {
                    _fail("outcome events out of item order");
                    return;
                }
                ExecutionLedger.InferenceRequest memory q = items[c.k].request;
                if (sig == EXECUTED_SIG) {
                    (,,,,,, uint256 cost,) = abi.decode(
                        l.data, (address, bytes32, bytes32, bytes32, uint8, Metering.Meter, uint256, uint32)
                    );
                    if (expect[c.k] != 0) _fail("a bad item was executed");
                    if (ghostExecuted[q.user][q.nonce]) {
                        doubleExecutions++;
                        _fail("a (user, nonce) executed twice");
                    }
                    ghostExecuted[q.user][q.nonce] = true;
                    executed.push(q);
                    executions++;
                    ghostCharged += cost;
                    c.batchCharged += cost;
                    (c.open, c.cost, c.credited, c.id) = (true, cost, 0, ids[c.k]);
                } else {
                    (, uint8 reason) = abi.decode(l.data, (address, uint8));
                    rejections++;
                    if (reason < 9) rejectionsByReason[reason]++;
                    if (expect[c.k] != 0) {
                        if (reason != expect[c.k]) _fail("bad item rejected with the wrong reason");
                    } else if (reason == 2) {
                        if (!ghostExecuted[q.user][q.nonce]) _fail("NONCE_USED on an unused nonce");
                    } else if (reason != 8) {
                        _fail("well-formed item rejected for a reason other than 2 or 8");
                    }
                }
                c.k++;
            } else if (sig == SETTLEMENT_SIG) {
                (, uint256 amount) = abi.decode(l.data, (uint8, uint256));
                address to = address(uint160(uint256(l.topics[2])));
                if (!c.open || l.topics[1] != c.id) _fail("Settlement outside its execution");
                if (!isRecipient[to]) _fail("credit to an unknown recipient");
                if (amount == 0) _fail("zero Settlement emitted");
                c.credited += amount;
                ghostCredited += amount;
            }
        }
        _close(c);
        if (c.k != n) _fail("item without an outcome");
        if (escrowBefore - ledger.totalEscrow() != c.batchCharged) _fail("escrow debit != batch cost");
        if (ledger.totalOwed() - owedBefore != c.batchCharged) _fail("owed credit != batch cost");
    }

    function _close(Cursor memory c) internal {
        if (c.open && c.credited != c.cost) _fail("credits of an execution != its cost");
        c.open = false;
    }

    function rate(uint256 idx, uint256 rating) external synced {
        if (executed.length == 0) return;
        ExecutionLedger.InferenceRequest memory q = executed[idx % executed.length];
        uint8 r = uint8(bound(rating, 0, 6));
        bool ok = r >= 1 && r <= 5 && !ghostRated[q.user][q.nonce];
        vm.prank(q.user);
        try feedback.rate(q, r) {
            if (!ok) _fail("rating accepted twice or out of range");
            ghostRated[q.user][q.nonce] = true;
        } catch {
            if (ok) _fail("valid rating reverted");
        }
    }

    // ---------------------------------------------------------------- curation

    function signal(uint256 u, uint256 target, uint256 kind, uint256 amount) external synced {
        address curator = users[u % 4];
        amount = bound(amount, 1, 1e21);
        uint8 tk = uint8(target % 2);
        bool unknown = tk == 0 && (target >> 16) % 8 == 0;
        bytes32 t = tk == 1 ? keccak256(abi.encode(target)) : bytes32(models[(target >> 8) % models.length]);
        if (unknown) t = bytes32(uint256(1000 + (target >> 32) % 100));
        token.mint(curator, amount);
        vm.prank(curator);
        token.approve(address(curation), amount);
        vm.prank(curator);
        try curation.signal(tk, t, uint8(kind % 4), uint128(amount)) returns (uint256 id) {
            if (unknown) _fail("signal on an unknown model accepted");
            signalIds.push(id);
            ghostActiveStake += amount;
        } catch {
            if (!unknown) _fail("valid signal reverted");
        }
    }

    function unsignal(uint256 idx, uint256 dt, bool byStranger) external synced {
        if (signalIds.length == 0) return;
        _advance(bound(dt, 0, 2 days));
        uint256 id = signalIds[idx % signalIds.length];
        (address curator,,, bool active, uint64 createdAt, uint128 amount,) = curation.signals(id);
        bool ok = !byStranger && active && time >= uint256(createdAt) + curation.cooldown();
        uint256 balance = token.balanceOf(curator);
        vm.prank(byStranger ? address(0xBAD) : curator);
        try curation.unsignal(id) {
            if (!ok) _fail("unsignal accepted early, twice or by a stranger");
            if (token.balanceOf(curator) - balance != amount) _fail("unsignal returned the wrong stake");
            ghostActiveStake -= amount;
        } catch {
            if (ok) _fail("valid unsignal reverted");
        }
    }

    // ---------------------------------------------------------------- rewards

    function publishEpoch(uint256 seed, uint256 n, uint256 mode) external synced {
        uint256 epoch = epochIds.length + 1;
        n = bound(n, 1, 6);
        bytes32[] memory leaves = new bytes32[](n);
        uint256 sum;
        for (uint256 i = 0; i < n; i++) {
            uint256 h = uint256(keccak256(abi.encode(seed, i)));
            // Mostly the known users (so an account may appear twice in one epoch), sometimes a fresh address.
            address account = h % 4 == 0 ? address(uint160(h >> 96)) : users[h % users.length];
            uint256 amount = (h >> 8) % 1e20;
            leaves[i] = TestLib.leaf(epoch, account, amount);
            accountsOf[epoch].push(account);
            amountsOf[epoch].push(amount);
            sum += amount;
        }
        mode = mode % 3;
        // mode 0: total == sum of leaves; 1: total short of it (over-total claims must fail); 2: slack left over.
        uint256 total = mode == 0 ? sum : mode == 1 ? sum - sum / 3 : sum + 1e18;
        leavesOf[epoch] = leaves;
        epochIds.push(epoch);
        token.mint(address(this), total);
        token.approve(address(distributor), total);
        distributor.publishEpoch(epoch, uint64(block.number), uint64(block.number), uint128(total), TestLib.root(leaves));
    }

    function claim(uint256 e, uint256 i) external synced {
        if (epochIds.length == 0) return;
        uint256 epoch = epochIds[e % epochIds.length];
        bytes32[] memory leaves = leavesOf[epoch];
        i = i % leaves.length;
        address account = accountsOf[epoch][i];
        uint256 amount = amountsOf[epoch][i];
        bytes32[] memory p = TestLib.proof(leaves, i);
        (,,, uint128 total, uint128 claimedBefore) = distributor.epochs(epoch);
        bool already = ghostClaimed[epoch][account];
        if (already) secondClaimAttempts++;
        // A wrong amount never passes.
        try distributor.claim(epoch, account, amount + 1, p) {
            _fail("claim with a wrong amount paid");
        } catch {}
        uint256 balance = token.balanceOf(account);
        try distributor.claim(epoch, account, amount, p) {
            if (already) {
                doubleClaims++;
                _fail("second claim of an account in an epoch paid");
            }
            if (uint256(claimedBefore) + amount > total) _fail("claim above the epoch total paid");
            if (token.balanceOf(account) - balance != amount) _fail("claim paid the wrong amount");
            ghostClaimed[epoch][account] = true;
            ghostClaimedOf[epoch] += amount;
            claims++;
            // The same leaf again must revert.
            secondClaimAttempts++;
            try distributor.claim(epoch, account, amount, p) {
                doubleClaims++;
                _fail("immediate second claim paid");
            } catch {}
        } catch {
            if (!already && uint256(claimedBefore) + amount <= total) _fail("valid claim reverted");
        }
    }
}
