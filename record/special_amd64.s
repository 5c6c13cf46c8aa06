#include "textflag.h"

DATA quotes<>+0(SB)/8, $0x2222222222222222
DATA quotes<>+8(SB)/8, $0x2222222222222222
DATA quotes<>+16(SB)/8, $0x2222222222222222
DATA quotes<>+24(SB)/8, $0x2222222222222222
GLOBL quotes<>(SB), RODATA|NOPTR, $32

DATA backslashes<>+0(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashes<>+8(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashes<>+16(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashes<>+24(SB)/8, $0x5c5c5c5c5c5c5c5c
GLOBL backslashes<>(SB), RODATA|NOPTR, $32

DATA lastControl<>+0(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA lastControl<>+8(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA lastControl<>+16(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA lastControl<>+24(SB)/8, $0x1f1f1f1f1f1f1f1f
GLOBL lastControl<>(SB), RODATA|NOPTR, $32

// func specialBitsAVX2(dst []uint64, src []byte) int
//
// A byte is special when it equals '"' or '\\', or is not above 0x1f as a
// signed byte (the control characters and every byte from 0x80). Each
// block of 64 bytes gives one word of dst, bit i for byte i.
TEXT ·specialBitsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), BX
	SHRQ $6, BX // whole blocks
	MOVQ BX, R9
	SHLQ $6, R9 // bytes done
	VMOVDQU quotes<>(SB), Y1
	VMOVDQU backslashes<>(SB), Y2
	VMOVDQU lastControl<>(SB), Y3

loop:
	TESTQ BX, BX
	JZ    done
	VMOVDQU (SI), Y0
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y0, Y5
	VPCMPGTB Y3, Y0, Y6 // plain range: 0x20..0x7f
	VPOR     Y5, Y4, Y4
	VPMOVMSKB Y4, AX
	VPMOVMSKB Y6, CX
	NOTL CX
	ORL  CX, AX
	VMOVDQU 32(SI), Y0
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y0, Y5
	VPCMPGTB Y3, Y0, Y6
	VPOR     Y5, Y4, Y4
	VPMOVMSKB Y4, DX
	VPMOVMSKB Y6, CX
	NOTL CX
	ORL  CX, DX
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ BX
	JMP  loop

done:
	VZEROUPPER
	MOVQ R9, ret+48(FP)
	RET
