// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MIPSMemory} from "MIPSMemory.sol";

/// @title MIPS: one step of the optimist MIPS32r1 little-endian VM (docs/vm-spec.md).
/// @notice `step` decodes a 186-byte packed pre-state, fetches the instruction at pc through a Merkle proof,
///         executes it (reading or writing at most one aligned word through a second proof) and returns the
///         keccak256 of the packed post-state. Proofs are compact (MIPSMemory). The Python reference stepper
///         (mipsvm/stepper.py) is the spec.
contract MIPS {
    uint256 internal constant STATE_SIZE = 186;
    uint256 internal constant TREE_DEPTH = 27;  // MIPSMemory.TREE_DEPTH (an array length must be a literal here)

    uint32 internal constant SYS_EXIT = 4001;
    uint32 internal constant SYS_EXIT_GROUP = 4246;

    uint8 internal constant FAULT_INVALID_INSTRUCTION = 0x81;
    uint8 internal constant FAULT_UNALIGNED_ACCESS = 0x82;
    uint8 internal constant FAULT_OVERFLOW = 0x83;
    uint8 internal constant FAULT_TRAP = 0x84;
    uint8 internal constant FAULT_BREAK = 0x85;
    uint8 internal constant FAULT_BAD_SYSCALL = 0x86;
    uint8 internal constant FAULT_UNALIGNED_PC = 0x87;

    /// @notice The packed state is not 186 bytes.
    error BadStateLength(uint256 length);
    /// @notice The proof is not one compact fetch proof, optionally followed by one compact data proof.
    error BadProofLength(uint256 length);
    /// @notice A load or store needs the data proof, and the proof is the fetch proof alone.
    error MissingDataProof(uint32 addr);
    /// @notice The exited byte of the packed state is neither 0 nor 1.
    error BadExitedFlag(uint8 exited);
    /// @notice The fetch proof does not prove the leaf holding pc against memRoot.
    error InvalidFetchProof(uint32 pc);
    /// @notice The data proof does not prove the leaf holding the accessed word against memRoot.
    error InvalidDataProof(uint32 addr);

    struct State {
        bytes32 memRoot;
        uint32 pc;
        uint32 nextPC;
        uint32 lo;
        uint32 hi;
        uint8 exitCode;
        bool exited;
        uint64 step;
        bytes packed; // the packed pre-state (+ 28 bytes of slack): registers are read and written in place
    }

    /// @notice Execute one instruction; returns keccak256 of the packed post-state.
    /// @param state packed pre-state (186 bytes, big-endian fields)
    /// @param proof compact fetch proof, then the compact data proof when the step reads or writes memory;
    ///        a data proof the step does not use is ignored (docs/vm-spec.md §4)
    function step(bytes calldata state, bytes calldata proof) external pure returns (bytes32) {
        if (state.length != STATE_SIZE) revert BadStateLength(state.length);
        uint256 fetchLength = MIPSMemory.proofLength(proof);
        if (fetchLength > proof.length) revert BadProofLength(proof.length);
        bytes calldata dataProof = proof[fetchLength:];
        if (dataProof.length != 0 && MIPSMemory.proofLength(dataProof) != dataProof.length) {
            revert BadProofLength(proof.length);
        }
        State memory s = _decode(state);
        if (s.exited) return keccak256(state);
        s.step += 1; // checked: a step counter at 2**64 - 1 reverts (unreachable: steps <= 2**48)
        if (s.pc & 3 != 0) {
            _halt(s, FAULT_UNALIGNED_PC);
        } else {
            bytes32[TREE_DEPTH] memory zeros = MIPSMemory.zeroHashes();
            _execute(s, _fetch(s, zeros, proof[:fetchLength]), zeros, dataProof);
        }
        return _hash(s);
    }

    /// @notice keccak256 of a packed state (the hash the game commits to).
    function stateHash(bytes calldata state) external pure returns (bytes32) {
        if (state.length != STATE_SIZE) revert BadStateLength(state.length);
        return keccak256(state);
    }

    // ------------------------------------------------------------------ state encoding

    /// @notice Decode a packed state whose length was checked to be STATE_SIZE.
    function _decode(bytes calldata b) internal pure returns (State memory s) {
        s.memRoot = bytes32(_field(b, 0, 32));
        s.pc = uint32(_field(b, 32, 4));
        s.nextPC = uint32(_field(b, 36, 4));
        s.lo = uint32(_field(b, 40, 4));
        s.hi = uint32(_field(b, 44, 4));
        s.exitCode = uint8(_field(b, 48, 1));
        uint8 exited = uint8(_field(b, 49, 1));
        if (exited > 1) revert BadExitedFlag(exited);
        s.exited = exited == 1;
        s.step = uint64(_field(b, 50, 8));
        // registers stay packed: regs[i] is 4 big-endian bytes at 58 + 4 i (`_reg`, `_setReg`); the 28 bytes of
        // slack let `_setReg` rewrite the 32-byte word that starts at any register
        bytes memory packed = new bytes(STATE_SIZE + 28);
        assembly ("memory-safe") {
            calldatacopy(add(packed, 32), b.offset, STATE_SIZE)
        }
        s.packed = packed;
    }

    /// @notice The big-endian `size`-byte field at `offset` of `b` (the caller checked the bounds).
    function _field(bytes calldata b, uint256 offset, uint256 size) internal pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(sub(256, mul(size, 8)), calldataload(add(b.offset, offset)))
        }
    }

    /// @notice keccak256 of the packed post-state: the header fields written over the pre-state's copy.
    function _hash(State memory s) internal pure returns (bytes32 h) {
        uint256 header = (uint256(s.pc) << 224) | (uint256(s.nextPC) << 192) | (uint256(s.lo) << 160)
            | (uint256(s.hi) << 128) | (uint256(s.exitCode) << 120) | (s.exited ? uint256(1) << 112 : 0)
            | (uint256(s.step) << 48); // bytes 32..57 of the state; bytes 58..63 (registers) are kept
        bytes32 memRoot = s.memRoot;
        bytes memory packed = s.packed;
        assembly ("memory-safe") {
            let out := add(packed, 32)
            mstore(out, memRoot)
            mstore(add(out, 32), or(header, and(mload(add(out, 32)), 0xFFFFFFFFFFFF)))
            h := keccak256(out, STATE_SIZE)
        }
    }

    // ------------------------------------------------------------------ memory access

    function _fetch(State memory s, bytes32[TREE_DEPTH] memory zeros, bytes calldata fetchProof)
        internal
        pure
        returns (uint32)
    {
        if (MIPSMemory.root(fetchProof, zeros, s.pc) != s.memRoot) revert InvalidFetchProof(s.pc);
        return MIPSMemory.wordAt(MIPSMemory.leafOf(fetchProof), s.pc);
    }

    /// @notice The aligned word holding `addr` in the data proof's leaf, not verified yet (`_loadWord` and
    ///         `_storeWord` verify the proof against memRoot).
    function _proofWord(bytes calldata dataProof, uint32 addr) internal pure returns (uint32) {
        if (dataProof.length == 0) revert MissingDataProof(addr);
        return MIPSMemory.wordAt(MIPSMemory.leafOf(dataProof), addr & ~uint32(3));
    }

    /// @notice The aligned word holding `addr`, proven by `dataProof` against memRoot.
    function _loadWord(State memory s, bytes32[TREE_DEPTH] memory zeros, bytes calldata dataProof, uint32 addr)
        internal
        pure
        returns (uint32 word)
    {
        word = _proofWord(dataProof, addr);
        if (MIPSMemory.root(dataProof, zeros, addr) != s.memRoot) revert InvalidDataProof(addr);
    }

    /// @notice Write `value` into the aligned word holding `addr`: one walk up the tree both verifies the data
    ///         proof against memRoot and computes the new memRoot.
    function _storeWord(
        State memory s,
        bytes32[TREE_DEPTH] memory zeros,
        bytes calldata dataProof,
        uint32 addr,
        uint32 value
    ) internal pure {
        bytes32 leaf = MIPSMemory.withWord(MIPSMemory.leafOf(dataProof), addr & ~uint32(3), value);
        (bytes32 oldRoot, bytes32 newRoot) = MIPSMemory.rootsWithLeaf(dataProof, zeros, addr, leaf);
        if (oldRoot != s.memRoot) revert InvalidDataProof(addr);
        s.memRoot = newRoot;
    }

    // ------------------------------------------------------------------ control flow

    /// @notice Write register r (0..31) in place; writes to r0 are discarded.
    function _setReg(State memory s, uint32 r, uint32 value) internal pure {
        if (r == 0) return;
        bytes memory packed = s.packed;
        assembly ("memory-safe") {
            let at := add(packed, add(90, shl(2, and(r, 31)))) // 32 (length) + 58 + 4 r; ends within the slack
            mstore(at, or(shl(224, value), shr(32, shl(32, mload(at)))))
        }
    }

    /// @notice Register r (0..31) of the state.
    function _reg(State memory s, uint32 r) internal pure returns (uint32 value) {
        bytes memory packed = s.packed;
        assembly ("memory-safe") {
            value := shr(224, mload(add(packed, add(90, shl(2, and(r, 31))))))
        }
    }

    /// @notice Retire a non-branch instruction: pc <- nextPC, nextPC <- nextPC + 4.
    function _advance(State memory s) internal pure {
        unchecked {
            s.pc = s.nextPC;
            s.nextPC = s.nextPC + 4;
        }
    }

    function _writeAndAdvance(State memory s, uint32 r, uint32 value) internal pure {
        _setReg(s, r, value);
        _advance(s);
    }

    /// @notice Retire a branch or jump: the delay slot at nextPC runs next, then `target` if taken.
    function _branchTo(State memory s, bool taken, uint32 target) internal pure {
        unchecked {
            uint32 slot = s.nextPC;
            s.pc = slot;
            s.nextPC = taken ? target : slot + 4;
        }
    }

    /// @notice A branch-likely not taken annuls its delay slot.
    function _annul(State memory s) internal pure {
        unchecked {
            s.pc = s.nextPC + 4;
            s.nextPC = s.nextPC + 8;
        }
    }

    /// @notice Halt: exited <- 1, exitCode <- code; pc, nextPC, registers and memory are unchanged.
    function _halt(State memory s, uint8 code) internal pure {
        s.exited = true;
        s.exitCode = code;
    }

    function _branchTarget(State memory s, uint32 insn) internal pure returns (uint32) {
        unchecked {
            return s.pc + 4 + (_sext(insn & 0xFFFF, 16) << 2);
        }
    }

    // ------------------------------------------------------------------ decode

    function _execute(State memory s, uint32 insn, bytes32[TREE_DEPTH] memory zeros, bytes calldata dataProof)
        internal
        pure
    {
        uint32 op = insn >> 26;
        if (op == 0x00) return _special(s, insn);
        if (op == 0x01) return _regimm(s, insn);
        if (op == 0x02 || op == 0x03) return _jump(s, insn);
        if ((op >= 0x04 && op <= 0x07) || (op >= 0x14 && op <= 0x17)) return _branch(s, insn);
        if (op >= 0x08 && op <= 0x0F) return _immediate(s, insn);
        if (op == 0x1C) return _special2(s, insn);
        if ((op >= 0x20 && op <= 0x26) || op == 0x30) return _load(s, insn, zeros, dataProof);
        if ((op >= 0x28 && op <= 0x2B) || op == 0x2E || op == 0x38) return _store(s, insn, zeros, dataProof);
        if (op == 0x33) return _advance(s); // pref: a no-op hint
        _halt(s, FAULT_INVALID_INSTRUCTION);
    }

    function _rs(State memory s, uint32 insn) internal pure returns (uint32) {
        return _reg(s, (insn >> 21) & 31);
    }

    function _rt(State memory s, uint32 insn) internal pure returns (uint32) {
        return _reg(s, (insn >> 16) & 31);
    }

    function _sext(uint32 v, uint32 bits) internal pure returns (uint32) {
        unchecked {
            uint32 sign = uint32(1) << (bits - 1);
            return (v ^ sign) - sign;
        }
    }

    // ------------------------------------------------------------------ SPECIAL (opcode 0)

    function _special(State memory s, uint32 insn) internal pure {
        uint32 funct = insn & 0x3F;
        uint32 rd = (insn >> 11) & 31;
        if (funct <= 0x07) return _shift(s, insn, funct, rd);
        if (funct == 0x08 || funct == 0x09) return _jumpRegister(s, insn, funct, rd);
        if (funct == 0x0A || funct == 0x0B) return _conditionalMove(s, insn, funct, rd);
        if (funct == 0x0C) return _syscall(s);
        if (funct == 0x0D) return _halt(s, FAULT_BREAK);
        if (funct == 0x0F) return _advance(s); // sync
        if (funct >= 0x10 && funct <= 0x13) return _hiLoMove(s, insn, funct, rd);
        if (funct >= 0x18 && funct <= 0x1B) return _mulDiv(s, insn, funct);
        if (funct >= 0x20 && funct <= 0x2B) return _alu(s, insn, funct, rd);
        if (funct >= 0x30 && funct <= 0x36) return _trap(s, _rs(s, insn), _rt(s, insn), funct & 7);
        _halt(s, FAULT_INVALID_INSTRUCTION);
    }

    function _shift(State memory s, uint32 insn, uint32 funct, uint32 rd) internal pure {
        uint32 rt = _rt(s, insn);
        uint32 sa = (funct & 4) == 0 ? (insn >> 6) & 31 : _rs(s, insn) & 31;
        uint32 kind = funct & 3;
        uint32 result;
        if (kind == 0) result = rt << sa;
        else if (kind == 2) result = rt >> sa;
        else if (kind == 3) result = uint32(int32(rt) >> sa);
        else return _halt(s, FAULT_INVALID_INSTRUCTION); // 0x01 movci, 0x05
        _writeAndAdvance(s, rd, result);
    }

    function _jumpRegister(State memory s, uint32 insn, uint32 funct, uint32 rd) internal pure {
        uint32 target = _rs(s, insn);
        if (funct == 0x09) {
            unchecked {
                _setReg(s, rd, s.pc + 8);
            }
        }
        _branchTo(s, true, target);
    }

    function _conditionalMove(State memory s, uint32 insn, uint32 funct, uint32 rd) internal pure {
        bool rtZero = _rt(s, insn) == 0;
        if (rtZero == (funct == 0x0A)) _setReg(s, rd, _rs(s, insn));
        _advance(s);
    }

    function _syscall(State memory s) internal pure {
        uint32 number = _reg(s, 2);
        if (number == SYS_EXIT || number == SYS_EXIT_GROUP) return _halt(s, uint8(_reg(s, 4) & 0xFF));
        _halt(s, FAULT_BAD_SYSCALL);
    }

    function _hiLoMove(State memory s, uint32 insn, uint32 funct, uint32 rd) internal pure {
        if (funct == 0x10) return _writeAndAdvance(s, rd, s.hi);
        if (funct == 0x12) return _writeAndAdvance(s, rd, s.lo);
        if (funct == 0x11) s.hi = _rs(s, insn);
        else s.lo = _rs(s, insn);
        _advance(s);
    }

    function _mulDiv(State memory s, uint32 insn, uint32 funct) internal pure {
        uint32 rs = _rs(s, insn);
        uint32 rt = _rt(s, insn);
        if (funct == 0x18) {
            _setHiLo(s, uint64(int64(int32(rs)) * int64(int32(rt))));
        } else if (funct == 0x19) {
            _setHiLo(s, uint64(rs) * uint64(rt));
        } else if (funct == 0x1A) {
            (s.lo, s.hi) = _divSigned(rs, rt);
        } else {
            (s.lo, s.hi) = _divUnsigned(rs, rt);
        }
        _advance(s);
    }

    function _setHiLo(State memory s, uint64 v) internal pure {
        s.hi = uint32(v >> 32);
        s.lo = uint32(v);
    }

    /// @notice Signed quotient and remainder; a zero divisor (UNPREDICTABLE) gives lo = rs, hi = 0, like unicorn.
    function _divSigned(uint32 rs, uint32 rt) internal pure returns (uint32 quotient, uint32 remainder) {
        if (rt == 0) return (rs, 0);
        unchecked {
            int64 a = int64(int32(rs));
            int64 b = int64(int32(rt));
            quotient = uint32(uint64(a / b));
            remainder = uint32(uint64(a % b));
        }
    }

    function _divUnsigned(uint32 rs, uint32 rt) internal pure returns (uint32 quotient, uint32 remainder) {
        if (rt == 0) return (rs, 0);
        quotient = rs / rt;
        remainder = rs % rt;
    }

    function _alu(State memory s, uint32 insn, uint32 funct, uint32 rd) internal pure {
        uint32 rs = _rs(s, insn);
        uint32 rt = _rt(s, insn);
        uint32 result;
        unchecked {
            if (funct == 0x20) {
                result = rs + rt;
                if (((rs ^ result) & (rt ^ result)) >> 31 != 0) return _halt(s, FAULT_OVERFLOW);
            } else if (funct == 0x21) {
                result = rs + rt;
            } else if (funct == 0x22) {
                result = rs - rt;
                if (((rs ^ rt) & (rs ^ result)) >> 31 != 0) return _halt(s, FAULT_OVERFLOW);
            } else if (funct == 0x23) {
                result = rs - rt;
            } else if (funct == 0x24) {
                result = rs & rt;
            } else if (funct == 0x25) {
                result = rs | rt;
            } else if (funct == 0x26) {
                result = rs ^ rt;
            } else if (funct == 0x27) {
                result = ~(rs | rt);
            } else if (funct == 0x2A) {
                result = int32(rs) < int32(rt) ? 1 : 0;
            } else if (funct == 0x2B) {
                result = rs < rt ? 1 : 0;
            } else {
                return _halt(s, FAULT_INVALID_INSTRUCTION); // 0x28, 0x29
            }
        }
        _writeAndAdvance(s, rd, result);
    }

    /// @notice Trap family; `kind` = funct & 7 (tge 0, tgeu 1, tlt 2, tltu 3, teq 4, tne 6).
    function _trap(State memory s, uint32 a, uint32 b, uint32 kind) internal pure {
        bool fire;
        if (kind == 0) fire = int32(a) >= int32(b);
        else if (kind == 1) fire = a >= b;
        else if (kind == 2) fire = int32(a) < int32(b);
        else if (kind == 3) fire = a < b;
        else if (kind == 4) fire = a == b;
        else if (kind == 6) fire = a != b;
        else return _halt(s, FAULT_INVALID_INSTRUCTION);
        if (fire) return _halt(s, FAULT_TRAP);
        _advance(s);
    }

    // ------------------------------------------------------------------ REGIMM (opcode 1)

    function _regimm(State memory s, uint32 insn) internal pure {
        uint32 rtField = (insn >> 16) & 31;
        uint32 rs = _rs(s, insn);
        if (rtField >= 0x08 && rtField <= 0x0E) {
            return _trap(s, rs, _sext(insn & 0xFFFF, 16), rtField & 7);
        }
        if ((rtField & 0x0C) != 0 || rtField > 0x13) return _halt(s, FAULT_INVALID_INSTRUCTION);
        bool taken = (rtField & 1) == 0 ? int32(rs) < 0 : int32(rs) >= 0;
        if ((rtField & 0x10) != 0) {
            unchecked {
                _setReg(s, 31, s.pc + 8);
            }
        }
        _conditionalBranch(s, insn, taken, (rtField & 2) != 0);
    }

    function _conditionalBranch(State memory s, uint32 insn, bool taken, bool likely) internal pure {
        if (likely && !taken) return _annul(s);
        _branchTo(s, taken, _branchTarget(s, insn));
    }

    // ------------------------------------------------------------------ J-type and I-type branches

    function _jump(State memory s, uint32 insn) internal pure {
        unchecked {
            uint32 target = ((s.pc + 4) & 0xF0000000) | ((insn & 0x03FFFFFF) << 2);
            if (insn >> 26 == 0x03) _setReg(s, 31, s.pc + 8);
            _branchTo(s, true, target);
        }
    }

    function _branch(State memory s, uint32 insn) internal pure {
        uint32 op = insn >> 26;
        int32 rs = int32(_rs(s, insn));
        bool taken;
        uint32 kind = op & 3;
        if (kind == 0) taken = rs == int32(_rt(s, insn));
        else if (kind == 1) taken = rs != int32(_rt(s, insn));
        else if (kind == 2) taken = rs <= 0;
        else taken = rs > 0;
        _conditionalBranch(s, insn, taken, (op & 0x10) != 0);
    }

    // ------------------------------------------------------------------ I-type arithmetic (opcodes 8-15)

    function _immediate(State memory s, uint32 insn) internal pure {
        uint32 op = insn >> 26;
        uint32 rs = _rs(s, insn);
        uint32 imm = insn & 0xFFFF;
        uint32 simm = _sext(imm, 16);
        uint32 result;
        unchecked {
            if (op == 0x08) {
                result = rs + simm;
                if (((rs ^ result) & (simm ^ result)) >> 31 != 0) return _halt(s, FAULT_OVERFLOW);
            } else if (op == 0x09) {
                result = rs + simm;
            } else if (op == 0x0A) {
                result = int32(rs) < int32(simm) ? 1 : 0;
            } else if (op == 0x0B) {
                result = rs < simm ? 1 : 0;
            } else if (op == 0x0C) {
                result = rs & imm;
            } else if (op == 0x0D) {
                result = rs | imm;
            } else if (op == 0x0E) {
                result = rs ^ imm;
            } else {
                result = imm << 16;
            }
        }
        _writeAndAdvance(s, (insn >> 16) & 31, result);
    }

    // ------------------------------------------------------------------ SPECIAL2 (opcode 0x1c)

    function _special2(State memory s, uint32 insn) internal pure {
        uint32 funct = insn & 0x3F;
        uint32 rs = _rs(s, insn);
        uint32 rt = _rt(s, insn);
        uint32 rd = (insn >> 11) & 31;
        unchecked {
            if (funct == 0x02) return _writeAndAdvance(s, rd, uint32(int32(rs) * int32(rt)));
            if (funct == 0x20) return _writeAndAdvance(s, rd, _countLeadingZeros(rs));
            if (funct == 0x21) return _writeAndAdvance(s, rd, _countLeadingZeros(~rs));
            uint64 acc = (uint64(s.hi) << 32) | s.lo;
            uint64 product = (funct & 1) == 0 ? uint64(int64(int32(rs)) * int64(int32(rt))) : uint64(rs) * uint64(rt);
            if (funct == 0x00 || funct == 0x01) _setHiLo(s, acc + product);
            else if (funct == 0x04 || funct == 0x05) _setHiLo(s, acc - product);
            else return _halt(s, FAULT_INVALID_INSTRUCTION);
        }
        _advance(s);
    }

    function _countLeadingZeros(uint32 v) internal pure returns (uint32 n) {
        if (v == 0) return 32;
        while (v & 0x80000000 == 0) {
            v <<= 1;
            n++;
        }
    }

    // ------------------------------------------------------------------ loads and stores

    function _address(State memory s, uint32 insn) internal pure returns (uint32) {
        unchecked {
            return _rs(s, insn) + _sext(insn & 0xFFFF, 16);
        }
    }

    function _load(State memory s, uint32 insn, bytes32[TREE_DEPTH] memory zeros, bytes calldata dataProof)
        internal
        pure
    {
        uint32 op = insn >> 26;
        uint32 addr = _address(s, insn);
        if (_misaligned(op, addr)) return _halt(s, FAULT_UNALIGNED_ACCESS);
        uint32 word = _loadWord(s, zeros, dataProof, addr);
        uint32 rtIndex = (insn >> 16) & 31;
        uint32 rt = _reg(s, rtIndex);
        uint32 shift = 8 * (addr & 3);
        uint32 result;
        if (op == 0x20) result = _sext((word >> shift) & 0xFF, 8);
        else if (op == 0x21) result = _sext((word >> shift) & 0xFFFF, 16);
        else if (op == 0x24) result = (word >> shift) & 0xFF;
        else if (op == 0x25) result = (word >> shift) & 0xFFFF;
        else if (op == 0x22) result = _mergeLeft(rt, word, 24 - shift);
        else if (op == 0x26) result = _mergeRight(rt, word, shift);
        else result = word; // lw, ll
        _writeAndAdvance(s, rtIndex, result);
    }

    function _store(State memory s, uint32 insn, bytes32[TREE_DEPTH] memory zeros, bytes calldata dataProof)
        internal
        pure
    {
        uint32 op = insn >> 26;
        uint32 addr = _address(s, insn);
        if (_misaligned(op, addr)) return _halt(s, FAULT_UNALIGNED_ACCESS);
        uint32 word = _proofWord(dataProof, addr); // verified by _storeWord
        uint32 rtIndex = (insn >> 16) & 31;
        uint32 rt = _reg(s, rtIndex);
        uint32 shift = 8 * (addr & 3);
        uint32 result;
        if (op == 0x28) result = _replace(word, rt, 0xFF, shift);
        else if (op == 0x29) result = _replace(word, rt, 0xFFFF, shift);
        else if (op == 0x2A) result = _mergeRight(word, rt, 24 - shift);
        else if (op == 0x2E) result = _mergeLeft(word, rt, shift);
        else result = rt; // sw, sc
        _storeWord(s, zeros, dataProof, addr, result);
        if (op == 0x38) return _writeAndAdvance(s, rtIndex, 1); // sc always succeeds (single thread)
        _advance(s);
    }

    /// @notice lh/lhu/sh need 2-byte alignment, lw/sw/ll/sc 4-byte; bytes and lwl/lwr/swl/swr any.
    function _misaligned(uint32 op, uint32 addr) internal pure returns (bool) {
        uint32 size = op & 3;
        if (op == 0x30 || op == 0x38) size = 3;
        if (size == 1) return addr & 1 != 0;
        if (size == 3) return addr & 3 != 0;
        return false;
    }

    /// @notice Keep the low `shift` bits of `low`, take the rest from `high << shift` (lwl, swr).
    function _mergeLeft(uint32 low, uint32 high, uint32 shift) internal pure returns (uint32) {
        uint32 mask = uint32(0xFFFFFFFF) << shift;
        return (low & ~mask) | ((high << shift) & mask);
    }

    /// @notice Keep the high `shift` bits of `high`, take the rest from `low >> shift` (lwr, swl).
    function _mergeRight(uint32 high, uint32 low, uint32 shift) internal pure returns (uint32) {
        uint32 mask = uint32(0xFFFFFFFF) >> shift;
        return (high & ~mask) | ((low >> shift) & mask);
    }

    function _replace(uint32 word, uint32 value, uint32 mask, uint32 shift) internal pure returns (uint32) {
        return (word & ~(mask << shift)) | ((value & mask) << shift);
    }
}
