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

// func indexSpecialAVX2(b []byte) int
//
// A byte is special when it equals '"' or '\\', or is not above 0x1f as a
// signed byte (the control characters and every byte from 0x80). Blocks of
// 32 bytes are tested until one holds a special byte; the last, partial
// block is the buffer's last 32 bytes, less those already tested.
TEXT ·indexSpecialAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), BX
	MOVQ DI, SI
	LEAQ -32(DI)(BX*1), DX // the start of the last whole block

	VMOVDQU quotes<>(SB), Y1
	VMOVDQU backslashes<>(SB), Y2
	VMOVDQU lastControl<>(SB), Y3

loop:
	CMPQ SI, DX
	JA   tail
	VMOVDQU (SI), Y0
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y0, Y5
	VPCMPGTB Y3, Y0, Y6 // plain range: 0x20..0x7f
	VPOR     Y5, Y4, Y4
	VPMOVMSKB Y4, AX
	VPMOVMSKB Y6, CX
	NOTL CX
	ORL  CX, AX
	JNZ  found
	ADDQ $32, SI
	JMP  loop

tail:
	LEAQ (DI)(BX*1), CX
	CMPQ SI, CX
	JEQ  none
	VMOVDQU (DX), Y0
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y0, Y5
	VPCMPGTB Y3, Y0, Y6
	VPOR     Y5, Y4, Y4
	VPMOVMSKB Y4, AX
	VPMOVMSKB Y6, R8
	NOTL R8
	ORL  R8, AX
	MOVQ SI, CX
	SUBQ DX, CX // bytes of this block tested already
	SHRL CX, AX
	TESTL AX, AX
	JZ   none

found:
	BSFL AX, AX
	SUBQ DI, SI
	ADDQ SI, AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

none:
	VZEROUPPER
	MOVQ BX, ret+24(FP)
	RET
