#!/usr/bin/env bash
# tests/backend/cuda_check_onnx_selftest.sh - cuda_check_onnx.sh's verdicts on canned check-onnx
# outputs (a stand-in gpulet), so the GPU gate is known to fail where it should without a GPU:
# a CUDA FAIL, a CPU pass with no CUDA verdict, too few CUDA passes, a predicted case skipped on
# CUDA, no device (77), and passes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/suite/test_a" "$tmp/suite/test_b" "$tmp/suite/test_c"
cat >"$tmp/fake" <<'FAKE'
#!/usr/bin/env bash
# fake gpulet: check-onnx [--device cuda] DIR -> canned lines by $FAKE_MODE
dev=cpu; [ "$2" = --device ] && dev=$3
if [ "$dev" = cpu ]; then printf 'PASS test_a\nPASS test_b\nPASS test_c\n3 passed, 0 failed, 0 skipped\n'; exit 0; fi
case $FAKE_MODE in
  nodevice) echo "gpulet: cuda: no usable CUDA device: no driver" >&2; exit 1 ;;
  good) printf 'PASS test_a\nPASS test_b\nSKIP test_c: node c: op X on CUDA\n2 passed, 0 failed, 1 skipped\n' ;;
  fail) printf 'PASS test_a\nFAIL test_b: worst element 0\nPASS test_c\n2 passed, 1 failed, 0 skipped\n' ;;
  lost) printf 'PASS test_a\nPASS test_b\n2 passed, 0 failed, 0 skipped\n' ;;
esac
FAKE
chmod +x "$tmp/fake"
printf '#!/usr/bin/env bash\nprintf "test_a\\ntest_c\\n"\n' >"$tmp/elig_ac"
printf '#!/usr/bin/env bash\nprintf "test_a\\ntest_b\\n"\n' >"$tmp/elig_ab"
chmod +x "$tmp/elig_ac" "$tmp/elig_ab"
bad=0
expect() { # expect RC MODE FLOOR [ELIGIBLE]
  FAKE_MODE=$2 "$here/cuda_check_onnx.sh" "$tmp/fake" "$tmp/suite" "$3" ${4:+"$tmp/$4"} >"$tmp/out" 2>&1
  local rc=$?
  if [ "$rc" = "$1" ]; then echo "ok: $2 floor $3 ${4:-} -> $rc"; else echo "FAIL: $2 floor $3 ${4:-} -> $rc, expected $1"; cat "$tmp/out"; bad=1; fi
}
expect 0 good 2
expect 1 good 3
expect 1 fail 1
expect 1 lost 1
expect 77 nodevice 1
expect 0 good 0 elig_ab   # test_c skipped on CUDA, not predicted: fine; floor = 2 predicted
expect 1 good 0 elig_ac   # test_c predicted but skipped on CUDA: an error
exit $bad
