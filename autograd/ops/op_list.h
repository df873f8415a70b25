/* op_list.h: the one list of tapegrad's ops. Everything that names the ops comes from it: the
 * tg_op enum (autograd.h), the op names and the table of backward functions (tape.c), and the
 * backward declarations (internal.h). Adding an op is one row here plus its op file, which must
 * define tg_<name>_backward (a missing one is a link error).
 *
 * A row is X(ENUM, name): TG_OP_<ENUM> in the enum, "name" as the op's name, tg_<name>_backward
 * as its backward. The last row, custom, is the node of an op defined outside the library
 * (tg_custom_op in autograd.h); its backward calls the user's function.
 */
#ifndef TG_OP_LIST_H
#define TG_OP_LIST_H

#define TG_OP_LIST(X)                 \
    X(ADD, add)                       \
    X(SUB, sub)                       \
    X(MUL, mul)                       \
    X(SCALE, scale)                   \
    X(MATMUL, matmul)                 \
    X(RELU, relu)                     \
    X(GELU, gelu)                     \
    X(SOFTMAX, softmax)               \
    X(LOG_SOFTMAX, log_softmax)       \
    X(LAYER_NORM, layer_norm)         \
    X(DROPOUT, dropout)               \
    X(EMBEDDING, embedding)           \
    X(RESHAPE, reshape)               \
    X(TRANSPOSE, transpose)           \
    X(SUM, sum)                       \
    X(MEAN, mean)                     \
    X(CROSS_ENTROPY, cross_entropy)   \
    X(POW, pow)                       \
    X(SIGMOID, sigmoid)               \
    X(MATMUL_BIAS, matmul_bias)       \
    X(LINEAR_CROSS_ENTROPY, linear_cross_entropy) \
    X(RESIDUAL, residual)             \
    X(MATMUL_BIAS_RELU, matmul_bias_relu) \
    X(CUSTOM, custom)

#endif /* TG_OP_LIST_H */
