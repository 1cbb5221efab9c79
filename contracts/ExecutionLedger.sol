// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {Metering} from "./Metering.sol";

/// @title The execution ledger: escrow, metering rates, signed executions and exact settlement.
/// @notice Operators record batches of executions signed by their users (EIP-712). Each item is
/// priced on-chain by the metering rule, debited from the user's escrow and credited, exactly,
/// to the model's creator side, the operator and the treasury as pull payments. A bad item is
/// rejected with a reason code and never reverts the rest of the batch.
contract ExecutionLedger is AccessControl, ReentrancyGuard, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "InferenceRequest(address user,uint256 modelId,bytes32 inputDigest,bytes32 paramsHash,uint8 priority,uint256 maxCost,uint256 nonce,uint256 deadline)"
    );
    /// @dev Gas for an EIP-1271 wallet's check, so one wallet cannot starve the whole batch.
    uint256 public constant ERC1271_GAS = 100_000;

    uint8 public constant ROLE_CREATOR = 0;
    uint8 public constant ROLE_OPERATOR = 1;
    uint8 public constant ROLE_TREASURY = 2;
    uint8 public constant ROLE_DAO = 3;
    uint8 public constant ROLE_REMIX_ANCESTOR = 4;

    uint8 public constant REJECT_EXPIRED = 1;
    uint8 public constant REJECT_NONCE_USED = 2;
    uint8 public constant REJECT_UNKNOWN_MODEL = 3;
    uint8 public constant REJECT_BAD_PRIORITY = 4;
    uint8 public constant REJECT_BAD_SIGNATURE = 5;
    uint8 public constant REJECT_NO_ACCESS = 6;
    uint8 public constant REJECT_COST_ABOVE_MAX = 7;
    uint8 public constant REJECT_INSUFFICIENT_ESCROW = 8;

    struct InferenceRequest {
        address user;
        uint256 modelId;
        bytes32 inputDigest;
        bytes32 paramsHash;
        uint8 priority;
        uint256 maxCost;
        uint256 nonce;
        uint256 deadline;
    }

    struct Item {
        InferenceRequest request;
        bytes signature;
        Metering.Meter meter;
        bytes32 outputDigest;
    }

    struct Withdrawal {
        uint128 amount;
        uint64 unlockAt;
    }

    event InferenceExecuted(
        bytes32 indexed executionId,
        uint256 indexed modelId,
        address indexed user,
        address operator,
        bytes32 inputDigest,
        bytes32 outputDigest,
        bytes32 paramsHash,
        uint8 priority,
        Metering.Meter meter,
        uint256 cost,
        uint32 ratesVersion
    );
    event Settlement(bytes32 indexed executionId, address indexed recipient, uint8 role, uint256 amount);
    event ExecutionRejected(
        bytes32 indexed executionId, address indexed user, uint256 indexed modelId, address operator, uint8 reason
    );
    event RatesSet(uint32 indexed version, Metering.Rates rates);
    event TreasurySet(address treasury);
    event WithdrawalDelaySet(uint64 delay);
    event Deposited(address indexed user, uint256 amount);
    event WithdrawalRequested(address indexed user, uint256 amount, uint64 unlockAt);
    event EscrowWithdrawn(address indexed user, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    error NoRates();
    error BadRates();
    error ZeroAmount();
    error ZeroAddress();
    error WithdrawalLocked(uint64 unlockAt);
    error NoWithdrawalPending();
    error UnknownRatesVersion(uint32 version);
    error UnknownModel(uint256 modelId);
    error BadPriority(uint8 priority);
    error InsufficientGasForWallet(uint256 gasLeft);

    IERC20 public immutable token;
    ModelRegistry public immutable registry;
    address public treasury;
    uint64 public withdrawalDelay = 1 hours;
    uint32 public ratesVersion;

    mapping(uint32 => Metering.Rates) internal _rates;
    mapping(address => uint256) public escrowOf;
    mapping(address => Withdrawal) public pendingWithdrawal;
    mapping(address => uint256) public owed;
    mapping(uint256 => mapping(address => uint256)) public usageCount;
    mapping(address => mapping(uint256 => uint256)) internal _nonceBitmap;

    // Running totals, for conservation checks: deposits == escrow + owed + paid out.
    uint256 public totalDeposited;
    uint256 public totalEscrow;
    uint256 public totalOwed;
    uint256 public totalPaidOut;

    constructor(IERC20 token_, ModelRegistry registry_, address admin, address treasury_)
        EIP712("ArtisanExecutionLedger", "1")
    {
        if (address(token_) == address(0) || address(registry_) == address(0) || treasury_ == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        registry = registry_;
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNOR_ROLE, admin);
    }

    // ---- governance ----

    function setRates(Metering.Rates calldata r) external onlyRole(GOVERNOR_ROLE) returns (uint32 version) {
        if (!Metering.validRates(r)) revert BadRates();
        version = ++ratesVersion;
        _rates[version] = r;
        emit RatesSet(version, r);
    }

    function setTreasury(address treasury_) external onlyRole(GOVERNOR_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    function setWithdrawalDelay(uint64 delay) external onlyRole(GOVERNOR_ROLE) {
        withdrawalDelay = delay;
        emit WithdrawalDelaySet(delay);
    }

    // ---- escrow ----

    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, amount);
    }

    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        // A front-run permit leaves the allowance in place: go on if it already suffices.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {}
        catch {}
        _deposit(msg.sender, amount);
    }

    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint64 unlockAt = uint64(block.timestamp) + withdrawalDelay;
        // SafeCast: a silently truncated request would disagree with its event.
        pendingWithdrawal[msg.sender] = Withdrawal(SafeCast.toUint128(amount), unlockAt);
        emit WithdrawalRequested(msg.sender, amount, unlockAt);
    }

    /// @notice Pays out the requested amount, or the whole escrow if it has since shrunk below it.
    function executeWithdrawal() external nonReentrant returns (uint256 amount) {
        Withdrawal memory w = pendingWithdrawal[msg.sender];
        if (w.amount == 0) revert NoWithdrawalPending();
        if (block.timestamp < w.unlockAt) revert WithdrawalLocked(w.unlockAt);
        delete pendingWithdrawal[msg.sender];
        uint256 available = escrowOf[msg.sender];
        amount = w.amount < available ? w.amount : available;
        escrowOf[msg.sender] = available - amount;
        totalEscrow -= amount;
        totalPaidOut += amount;
        token.safeTransfer(msg.sender, amount);
        emit EscrowWithdrawn(msg.sender, amount);
    }

    /// @notice Pays out every credit owed to the caller (pull payment).
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = owed[msg.sender];
        if (amount == 0) revert ZeroAmount();
        owed[msg.sender] = 0;
        totalOwed -= amount;
        totalPaidOut += amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    // ---- executions ----

    /// @dev Per-batch state kept in memory: the last model's terms (consecutive items usually
    /// share a model) and the operator's and treasury's credits, written once per batch.
    struct BatchState {
        uint256 modelId;
        ModelRegistry.Terms terms;
        uint256 operatorCredit;
        uint256 treasuryCredit;
        uint256 charged;
    }

    function recordBatch(Item[] calldata items) external onlyRole(OPERATOR_ROLE) nonReentrant {
        uint32 version = ratesVersion;
        if (version == 0) revert NoRates();
        Metering.Rates memory r = _rates[version];
        BatchState memory st;
        for (uint256 i = 0; i < items.length; i++) {
            _record(items[i], r, version, st);
        }
        if (st.operatorCredit != 0) owed[msg.sender] += st.operatorCredit;
        if (st.treasuryCredit != 0) owed[treasury] += st.treasuryCredit;
        totalEscrow -= st.charged;
        totalOwed += st.charged;
    }

    function _record(Item calldata it, Metering.Rates memory r, uint32 version, BatchState memory st) internal {
        InferenceRequest calldata q = it.request;
        bytes32 id = executionId(q);
        address user = q.user;
        uint256 modelId = q.modelId;

        if (block.timestamp > q.deadline) return _reject(id, q, REJECT_EXPIRED);
        uint256 wordIndex = q.nonce >> 8;
        uint256 bit = 1 << (q.nonce & 0xff);
        uint256 word = _nonceBitmap[user][wordIndex];
        if (word & bit != 0) return _reject(id, q, REJECT_NONCE_USED);
        if (st.modelId != modelId) {
            st.terms = registry.terms(modelId);
            st.modelId = modelId;
        }
        ModelRegistry.Terms memory t = st.terms;
        if (t.owner == address(0)) return _reject(id, q, REJECT_UNKNOWN_MODEL);
        if (q.priority >= Metering.PRIORITY_TIERS) return _reject(id, q, REJECT_BAD_PRIORITY);
        if (!_validSignature(user, id, it.signature)) return _reject(id, q, REJECT_BAD_SIGNATURE);
        if (t.access != 0 && !registry.hasAccess(modelId, user)) return _reject(id, q, REJECT_NO_ACCESS);

        uint256 prior = usageCount[modelId][user];
        uint256 base = t.pricingKind == 0 ? t.fixedPrice : registry.priceFor(modelId, prior);
        uint256 cost = Metering.cost(r, t.sizeClass, base, it.meter, q.priority);
        if (cost > q.maxCost) return _reject(id, q, REJECT_COST_ABOVE_MAX);
        uint256 escrow = escrowOf[user];
        if (cost > escrow) return _reject(id, q, REJECT_INSUFFICIENT_ESCROW);

        _nonceBitmap[user][wordIndex] = word | bit;
        usageCount[modelId][user] = prior + 1;
        escrowOf[user] = escrow - cost;
        st.charged += cost;
        emit InferenceExecuted(
            id, modelId, user, msg.sender, q.inputDigest, it.outputDigest, q.paramsHash, q.priority, it.meter, cost,
            version
        );
        _settle(id, cost, r, t, st);
    }

    function _settle(bytes32 id, uint256 cost, Metering.Rates memory r, ModelRegistry.Terms memory t, BatchState memory st)
        internal
    {
        (uint256 opAmt, uint256 trAmt, uint256 creatorSide) = Metering.protocolSplit(cost, r.operatorBps, r.treasuryBps);
        if (opAmt != 0) {
            st.operatorCredit += opAmt;
            emit Settlement(id, msg.sender, ROLE_OPERATOR, opAmt);
        }
        if (trAmt != 0) {
            st.treasuryCredit += trAmt;
            emit Settlement(id, treasury, ROLE_TREASURY, trAmt);
        }
        uint256 dao = creatorSide * t.daoShareBps / Metering.BPS;
        _credit(id, t.daoTreasury, ROLE_DAO, dao);
        uint256 amount = creatorSide - dao;
        address owner = t.owner;
        uint64 parentId = t.parentId;
        uint8 role = ROLE_CREATOR;
        while (parentId != 0) {
            (address parentOwner, uint64 grandParent, uint16 shareBps) = registry.remixLink(parentId);
            uint256 up = amount * shareBps / Metering.BPS;
            _credit(id, owner, role, amount - up);
            amount = up;
            owner = parentOwner;
            parentId = grandParent;
            role = ROLE_REMIX_ANCESTOR;
        }
        _credit(id, owner, role, amount);
    }

    function _credit(bytes32 id, address recipient, uint8 role, uint256 amount) internal {
        if (amount == 0) return;
        owed[recipient] += amount;
        emit Settlement(id, recipient, role, amount);
    }

    function _reject(bytes32 id, InferenceRequest calldata q, uint8 reason) internal {
        emit ExecutionRejected(id, q.user, q.modelId, msg.sender, reason);
    }

    /// @dev ECDSA first (an EOA, or an EIP-7702 account signing as its key), then EIP-1271 for
    /// contract wallets, with a gas cap so that one wallet cannot make the batch run out of gas.
    function _validSignature(address signer, bytes32 digest, bytes calldata sig) internal view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, sig);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        if (signer.code.length == 0) return false;
        // A caller must not be able to starve the wallet into a false BAD_SIGNATURE by sending
        // the batch with too little gas: the call gets at most 63/64 of what is left (EIP-150).
        if (gasleft() * 63 / 64 < ERC1271_GAS + 2_000) revert InsufficientGasForWallet(gasleft());
        (bool ok, bytes memory ret) =
            signer.staticcall{gas: ERC1271_GAS}(abi.encodeCall(IERC1271.isValidSignature, (digest, sig)));
        return ok && ret.length >= 32 && abi.decode(ret, (bytes4)) == IERC1271.isValidSignature.selector;
    }

    function _deposit(address user, uint256 amount) internal {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(user, address(this), amount);
        escrowOf[user] += amount;
        totalEscrow += amount;
        totalDeposited += amount;
        emit Deposited(user, amount);
    }

    // ---- views ----

    function executionId(InferenceRequest calldata q) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
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
            )
        );
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function nonceUsed(address user, uint256 nonce) external view returns (bool) {
        return _nonceBitmap[user][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    function ratesAt(uint32 version) external view returns (Metering.Rates memory) {
        if (version == 0 || version > ratesVersion) revert UnknownRatesVersion(version);
        return _rates[version];
    }

    /// @notice The metering rule as a pure function, so that anyone can check a cost.
    function meteringCost(
        Metering.Rates calldata r,
        uint8 sizeClass,
        uint256 base,
        Metering.Meter calldata m,
        uint8 priority
    ) external pure returns (uint256) {
        return Metering.cost(r, sizeClass, base, m, priority);
    }

    /// @notice The cost of an execution if it were recorded now with the current rates.
    function quote(uint256 modelId, address user, Metering.Meter calldata m, uint8 priority)
        external
        view
        returns (uint256)
    {
        ModelRegistry.Terms memory t = registry.terms(modelId);
        if (t.owner == address(0)) revert UnknownModel(modelId);
        if (priority >= Metering.PRIORITY_TIERS) revert BadPriority(priority);
        if (ratesVersion == 0) revert NoRates();
        uint256 base = registry.priceFor(modelId, usageCount[modelId][user]);
        return Metering.cost(_rates[ratesVersion], t.sizeClass, base, m, priority);
    }
}
