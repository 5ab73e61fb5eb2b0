/* zoo/zoo_bert.c - BERT-base (uncased): 12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522. */
#include <math.h>

#include "core/alloc.h"
#include "zoo/zoo_int.h"

enum { HID = 768, HEADS = 12, HDIM = 64, FFN = 3072, VOCAB = 30522, MAXPOS = 512, LAYERS = 12 };

/* Weights as BERT initialises them: normal with std 0.02, drawn here as uniform of that std. */
static const float W_STD = 0.02f;

static int dense(zb_t *b, int x, int64_t in, int64_t out) {
  float a = W_STD * sqrtf(3.0f);
  int w = zb_param(b, NULL, 2, (int64_t[]){in, out}, -a, a);
  int c = zb_param(b, NULL, 1, &out, -0.02f, 0.02f);
  return zb_binary(b, "Add", zb_matmul(b, x, w), c);
}

/* [b, s, 768] -> [b, 12, s, 64], or [b, 12, 64, s] for keys */
static int heads(zb_t *b, int x, bool keys) {
  x = zb_reshape(b, x, 4, (int64_t[]){0, 0, HEADS, HDIM});
  return zb_transpose(b, x, 4, keys ? (int64_t[]){0, 2, 3, 1} : (int64_t[]){0, 2, 1, 3});
}

/* GELU as exported from PyTorch: x * 0.5 * (1 + erf(x / sqrt(2))). */
static int gelu(zb_t *b, int x) {
  int e = zb_unary(b, "Erf", zb_binary(b, "Div", x, zb_scalar(b, 1.41421356f)));
  int y = zb_binary(b, "Mul", x, zb_binary(b, "Add", e, zb_scalar(b, 1.0f)));
  return zb_binary(b, "Mul", y, zb_scalar(b, 0.5f));
}

static int layer(zb_t *b, int x) {
  int q = heads(b, dense(b, x, HID, HID), false);
  int k = heads(b, dense(b, x, HID, HID), true);
  int v = heads(b, dense(b, x, HID, HID), false);
  int s = zb_binary(b, "Div", zb_matmul(b, q, k), zb_scalar(b, sqrtf((float)HDIM)));
  int ctx = zb_matmul(b, zb_softmax(b, s, -1), v);
  ctx = zb_transpose(b, ctx, 4, (int64_t[]){0, 2, 1, 3});
  ctx = zb_reshape(b, ctx, 3, (int64_t[]){0, 0, HID});
  x = zb_layernorm(b, zb_binary(b, "Add", dense(b, ctx, HID, HID), x), 1e-12f);
  int h = gelu(b, dense(b, x, HID, FFN));
  return zb_layernorm(b, zb_binary(b, "Add", dense(b, h, FFN, HID), x), 1e-12f);
}

/* One input, input_ids [batch, seq] int64 (token types all 0, no padding mask); outputs the
 * last hidden state [batch, seq, 768] and the pooled [CLS] vector [batch, 768] (dense + Tanh). */
gl_status_t gl_zoo_bert(zb_t *b, int64_t batch, int64_t seq) {
  if (seq < 1 || seq > MAXPOS) return gl_err(GL_EINVAL, "zoo: bert's sequence length must be 1..%d", MAXPOS);
  float a = W_STD * sqrtf(3.0f);
  int ids = zb_input(b, "input_ids", GL_DT_I64, 2, (int64_t[]){batch > 0 ? batch : -1, seq});
  int word = zb_param(b, "embeddings.word", 2, (int64_t[]){VOCAB, HID}, -a, a);
  int pos = zb_param(b, "embeddings.position", 2, (int64_t[]){MAXPOS, HID}, -a, a);
  int type = zb_param(b, "embeddings.token_type", 2, (int64_t[]){2, HID}, -a, a);
  int64_t *pids = gl_malloc(sizeof(int64_t) * (size_t)seq);
  if (!pids) return gl_err(GL_ENOMEM, "zoo: out of memory");
  for (int64_t i = 0; i < seq; i++) pids[i] = i;
  int pos_ids = zb_const_i64(b, "position_ids", 1, &seq, pids);
  gl_free(pids);
  int type0 = zb_const_i64(b, "token_type_id", 0, NULL, (int64_t[]){0});
  int x = zb_gather(b, word, ids, 0);
  x = zb_binary(b, "Add", x, zb_gather(b, pos, pos_ids, 0));
  x = zb_binary(b, "Add", x, zb_gather(b, type, type0, 0));
  x = zb_layernorm(b, x, 1e-12f);
  for (int l = 0; l < LAYERS; l++) x = layer(b, x);
  zb_name_next(b, "last_hidden_state");
  x = zb_unary(b, "Identity", x);
  zb_output(b, x);
  int cls = zb_gather(b, x, zb_const_i64(b, "cls_index", 0, NULL, (int64_t[]){0}), 1);
  float wp = W_STD * sqrtf(3.0f);
  int w = zb_param(b, "pooler.weight", 2, (int64_t[]){HID, HID}, -wp, wp);
  int c = zb_param(b, "pooler.bias", 1, (int64_t[]){HID}, -0.02f, 0.02f);
  int p = zb_binary(b, "Add", zb_matmul(b, cls, w), c);
  zb_name_next(b, "pooler_output");
  zb_output(b, zb_unary(b, "Tanh", p));
  return b->st;
}
