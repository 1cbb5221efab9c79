// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./TestBase.sol";
import {Vm} from "./Vm.sol";
import {Env} from "./Env.sol";
import {ArtToken} from "../../ArtToken.sol";
import {ModelRegistry} from "../../ModelRegistry.sol";
import {ExecutionLedger} from "../../ExecutionLedger.sol";
import {Metering} from "../../Metering.sol";
import {Curation} from "../../Curation.sol";
import {Feedback} from "../../Feedback.sol";
import {RewardDistributor} from "../../RewardDistributor.sol";

/// @notice Helpers shared by the tests and the invariant handler: request building, EIP-712 digests
/// computed independently of the ledger, signing, Merkle trees with sorted-pair hashing.
library TestLib {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    bytes32 internal constant REQUEST_TYPEHASH = keccak256(
        "InferenceRequest(address user,uint256 modelId,bytes32 inputDigest,bytes32 paramsHash,uint8 priority,uint256 maxCost,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function domainSeparator(uint256 chainId, address ledger) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("ArtisanExecutionLedger"), keccak256("1"), chainId, ledger)
        );
    }

    function digest(ExecutionLedger.InferenceRequest memory q, uint256 chainId, address ledger)
        internal
        pure
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                REQUEST_TYPEHASH,
                q.user,
                q.modelId,
                q.inputDigest,
                q.paramsHash,
                q.priority,
                q.maxCost,
                q.nonce,
                q.deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(chainId, ledger), structHash));
    }

    function signDigest(uint256 pk, bytes32 d) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, d);
        return abi.encodePacked(r, s, v);
    }

    function request(address user, uint256 modelId, uint256 nonce, uint256 maxCost, uint256 deadline, uint8 priority)
        internal
        pure
        returns (ExecutionLedger.InferenceRequest memory q)
    {
        q.user = user;
        q.modelId = modelId;
        q.inputDigest = keccak256(abi.encode("input", user, nonce));
        q.paramsHash = keccak256(abi.encode("params", modelId));
        q.priority = priority;
        q.maxCost = maxCost;
        q.nonce = nonce;
        q.deadline = deadline;
    }

    function meter(uint64 inputUnits, uint64 gpuMicros, uint64 latencyMicros, uint64 storageBytes, uint32 load)
        internal
        pure
        returns (Metering.Meter memory m)
    {
        m = Metering.Meter(inputUnits, gpuMicros, latencyMicros, storageBytes, load);
    }

    // ---- Merkle trees (sorted-pair keccak, as OpenZeppelin MerkleProof verifies) ----

    function leaf(uint256 epoch, address account, uint256 amount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(epoch, account, amount))));
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// @dev Pairs (0,1), (2,3), ... at each level; an odd last node goes up unchanged.
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        require(leaves.length > 0, "empty tree");
        bytes32[] memory level = leaves;
        while (level.length > 1) level = _up(level);
        return level[0];
    }

    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory p) {
        bytes32[] memory buf = new bytes32[](8);
        uint256 n;
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            uint256 sib = index ^ 1;
            if (sib < level.length) {
                if (n == buf.length) {
                    bytes32[] memory bigger = new bytes32[](n * 2);
                    for (uint256 i = 0; i < n; i++) bigger[i] = buf[i];
                    buf = bigger;
                }
                buf[n++] = level[sib];
            }
            level = _up(level);
            index >>= 1;
        }
        p = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) p[i] = buf[i];
    }

    function _up(bytes32[] memory level) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i = 0; i < next.length; i++) {
            uint256 l = 2 * i;
            next[i] = l + 1 < level.length ? hashPair(level[l], level[l + 1]) : level[l];
        }
    }
}

/// @notice Deploys the whole protocol with the test contract as admin, and offers the usual steps.
abstract contract Fixture is TestBase {
    ArtToken internal token;
    ModelRegistry internal registry;
    ExecutionLedger internal ledger;
    Curation internal curation;
    Feedback internal feedback;
    RewardDistributor internal distributor;

    address internal operator = address(0x0FE1);
    address internal treasury = address(0x7EA5);
    address internal dao = address(0xDA0);
    address internal creator = address(0xC1EA);

    uint64 internal constant COOLDOWN = 1 days;

    /// @dev Contracts are deployed from forge's artifacts (vm.deployCode) by a separate Env contract rather than with
    /// `new` here: with via-IR and solc-js, every test contract pays for the code it contains, so shared deployment
    /// code lives in one contract that is compiled once.
    function deployAll() internal {
        Env env = Env(vm.deployCode("Env.sol:Env", ""));
        address[6] memory a = env.deploy(address(this), operator, treasury, COOLDOWN);
        token = ArtToken(a[0]);
        registry = ModelRegistry(a[1]);
        ledger = ExecutionLedger(a[2]);
        curation = Curation(a[3]);
        feedback = Feedback(a[4]);
        distributor = RewardDistributor(a[5]);
        vm.label(operator, "operator");
        vm.label(treasury, "treasury");
        vm.label(dao, "dao");
        vm.label(creator, "creator");
    }

    /// @dev Another ledger on the same token and registry, with this contract as admin and no rates.
    function newLedger() internal returns (ExecutionLedger) {
        return ExecutionLedger(
            vm.deployCode("ExecutionLedger.sol:ExecutionLedger", abi.encode(token, registry, address(this), treasury))
        );
    }

    /// @dev Same values as Env.defaultRates (what deployAll sets as version 1).
    function defaultRates() internal pure returns (Metering.Rates memory r) {
        r.unitRate = [uint64(1e12), 2e12, 4e12, 8e12];
        r.gpuRate = 1e9;
        r.latencyRate = 1e6;
        r.storageRate = 1e3;
        r.priorityBps = [uint16(10_000), 12_500, 15_000, 20_000];
        r.loadBpsPerUnit = 500;
        r.loadCapacity = 8;
        r.maxLoadBps = 30_000;
        r.operatorBps = 1_000;
        r.treasuryBps = 500;
    }

    function fixedModel(bytes32 cid, uint128 price, uint64 parentId) internal pure returns (ModelRegistry.Registration memory p) {
        p.cid = cid;
        p.sizeClass = 1;
        p.access = 0;
        p.parentId = parentId;
        p.remixAllowed = true;
        p.remixShareBps = 2_000;
        p.pricingKind = 0;
        p.fixedPrice = price;
    }

    function registerAs(address owner, ModelRegistry.Registration memory p) internal returns (uint256 id) {
        vm.prank(owner);
        id = registry.register(p);
    }

    function fund(address user, uint256 amount) internal {
        token.mint(user, amount);
        vm.startPrank(user);
        token.approve(address(ledger), amount);
        ledger.deposit(amount);
        vm.stopPrank();
    }

    function item(uint256 pk, ExecutionLedger.InferenceRequest memory q, Metering.Meter memory m)
        internal
        view
        returns (ExecutionLedger.Item memory it)
    {
        it.request = q;
        it.signature = TestLib.signDigest(pk, TestLib.digest(q, block.chainid, address(ledger)));
        it.meter = m;
        it.outputDigest = keccak256(abi.encode("output", q.user, q.nonce));
    }

    function one(ExecutionLedger.Item memory it) internal pure returns (ExecutionLedger.Item[] memory items) {
        items = new ExecutionLedger.Item[](1);
        items[0] = it;
    }

    function record(ExecutionLedger.Item[] memory items) internal {
        vm.prank(operator);
        ledger.recordBatch(items);
    }

    // ---- log parsing ----

    bytes32 internal constant EXECUTED_SIG = keccak256(
        "InferenceExecuted(bytes32,uint256,address,address,bytes32,bytes32,bytes32,uint8,(uint64,uint64,uint64,uint64,uint32),uint256,uint32)"
    );
    bytes32 internal constant SETTLEMENT_SIG = keccak256("Settlement(bytes32,address,uint8,uint256)");
    bytes32 internal constant REJECTED_SIG = keccak256("ExecutionRejected(bytes32,address,uint256,address,uint8)");

    struct Credit {
        bytes32 id;
        address recipient;
        uint8 role;
        uint256 amount;
    }

    /// @dev The reason of the first ExecutionRejected for `id` in `logs`, or 0 if none.
    function rejectReason(Vm.Log[] memory logs, bytes32 id) internal pure returns (uint8) {
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics.length == 4 && logs[i].topics[0] == REJECTED_SIG && logs[i].topics[1] == id) {
                (, uint8 reason) = abi.decode(logs[i].data, (address, uint8));
                return reason;
            }
        }
        return 0;
    }

    /// @dev The cost of the InferenceExecuted for `id` and whether it was found.
    function executedCost(Vm.Log[] memory logs, bytes32 id) internal pure returns (bool found, uint256 cost) {
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics.length == 4 && logs[i].topics[0] == EXECUTED_SIG && logs[i].topics[1] == id) {
                (,,,,,, uint256 c,) = abi.decode(
                    logs[i].data, (address, bytes32, bytes32, bytes32, uint8, Metering.Meter, uint256, uint32)
                );
                return (true, c);
            }
        }
    }

    function credits(Vm.Log[] memory logs, bytes32 id) internal pure returns (Credit[] memory out) {
        uint256 n;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics.length == 3 && logs[i].topics[0] == SETTLEMENT_SIG && logs[i].topics[1] == id) n++;
        }
        out = new Credit[](n);
        n = 0;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics.length == 3 && logs[i].topics[0] == SETTLEMENT_SIG && logs[i].topics[1] == id) {
                (uint8 role, uint256 amount) = abi.decode(logs[i].data, (uint8, uint256));
                out[n++] = Credit(id, address(uint160(uint256(logs[i].topics[2]))), role, amount);
            }
        }
    }
}
