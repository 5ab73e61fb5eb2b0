# tests/zoo.cmake - reference checks (label `reference`): each zoo model, made by `gpulet zoo`, run
# by gpulet and by ONNX Runtime (tools/ort/run.js) on the same seeded inputs at batch 1, and at
# batch 8 for the smaller models (VGG-16, DenseNet-161 and BERT-base only at batch 1 to keep the
# suite within minutes on 2 cores). Tolerance: |gpulet - ort| <= 1e-4 + 1e-3 |ort| per element
# (fp32, different summation orders; outputs are raw logits / hidden states of rms ~0.3-3).
# Skipped (exit 77) when onnxruntime-node is missing or gpulet has no kernel for one of the ops.
# OMP_WAIT_POLICY=PASSIVE: on a shared, oversubscribed 2-core machine libgomp's spin-waiting took
# 80% of gpulet's time (ResNet-50 batch 1: ~800 ms active vs ~245 ms passive).
set(GL_ZOO_REF_MODELS
  "lenet 1 8" "mobilenetv2 1 8" "mnasnet 1 8" "googlenet 1 8" "resnet50 1 8" "ssd-mobilenet 1 8"
  "densenet161 1" "vgg16 1" "bert-base 1")
foreach(spec ${GL_ZOO_REF_MODELS})
  separate_arguments(args UNIX_COMMAND "${spec}")
  list(GET args 0 model)
  list(SUBLIST args 1 -1 batches)
  add_test(NAME zoo_ref_${model}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/zoo/reference.sh $<TARGET_FILE:gpulet>
            ${CMAKE_SOURCE_DIR}/tools/ort/run.js ${CMAKE_BINARY_DIR}/zoo-ref ${model} ${batches})
  set_tests_properties(zoo_ref_${model} PROPERTIES LABELS reference TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=PASSIVE;ASAN_OPTIONS=detect_leaks=1" RUN_SERIAL TRUE)
endforeach()

# The command line: --list names every model, bad arguments are refused.
add_test(NAME zoo_cli_list COMMAND $<TARGET_FILE:gpulet> zoo --list)
set_tests_properties(zoo_cli_list PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "resnet50 +25557032 +4089\\.[0-9].*bert-base +109482240")
add_test(NAME zoo_cli_unknown COMMAND $<TARGET_FILE:gpulet> zoo alexnet -o /dev/null)
set_tests_properties(zoo_cli_unknown PROPERTIES LABELS unit WILL_FAIL TRUE)

# The check can fail: outputs of the seed-1 model against a seed-2 model must not pass.
add_test(NAME zoo_ref_detects_mismatch
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/zoo/mismatch.sh $<TARGET_FILE:gpulet>
          ${CMAKE_SOURCE_DIR}/tools/ort/run.js ${CMAKE_BINARY_DIR}/zoo-ref-mismatch)
set_tests_properties(zoo_ref_detects_mismatch PROPERTIES LABELS reference TIMEOUT 120 SKIP_RETURN_CODE 77)
