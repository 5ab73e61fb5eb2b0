# fuzz/fuzz.cmake - libFuzzer targets (GL_FUZZ=ON with clang; scripts/fuzz.sh builds and runs them).
# fuzz_onnx links only what the reader needs (core, tensor, the graph IR, onnx), so it builds
# even when some kernel file does not compile with clang; fuzz_prepare needs all of gl.
if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(WARNING "GL_FUZZ needs clang (CC=clang); no fuzz targets built")
  return()
endif()
file(GLOB gl_reader_src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/core/*.c ${CMAKE_SOURCE_DIR}/src/tensor/*.c
     ${CMAKE_SOURCE_DIR}/src/onnx/*.c)
add_library(gl_reader STATIC ${gl_reader_src} ${CMAKE_SOURCE_DIR}/src/graph/graph.c)
target_include_directories(gl_reader PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gl_reader PUBLIC gl_onnxpb m)
target_compile_definitions(gl_reader PUBLIC GL_VERSION="${PROJECT_VERSION}")

add_executable(fuzz_onnx ${CMAKE_SOURCE_DIR}/fuzz/fuzz_onnx.c)
target_link_libraries(fuzz_onnx PRIVATE gl_reader)
add_executable(fuzz_prepare ${CMAKE_SOURCE_DIR}/fuzz/fuzz_prepare.c)
target_link_libraries(fuzz_prepare PRIVATE gl)
# the KServe request parser: the codec alone (core, tensor, jansson)
add_executable(fuzz_kserve ${CMAKE_SOURCE_DIR}/fuzz/fuzz_kserve.c ${CMAKE_SOURCE_DIR}/src/serve/kserve.c)
target_link_libraries(fuzz_kserve PRIVATE gl_reader PkgConfig::JANSSON)
# the model config (serve/model.c), the profile, scenario and trace readers: need gl
foreach(t fuzz_config fuzz_profile fuzz_scenario fuzz_trace)
  add_executable(${t} ${CMAKE_SOURCE_DIR}/fuzz/${t}.c)
  target_link_libraries(${t} PRIVATE gl)
endforeach()
foreach(t fuzz_onnx fuzz_prepare fuzz_kserve fuzz_config fuzz_profile fuzz_scenario fuzz_trace)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
endforeach()
