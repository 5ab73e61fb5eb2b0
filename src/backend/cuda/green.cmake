# src/backend/cuda/green.cmake - libgpulet_green.so, the green-context module (green_module.c).
# Plain C against cuda.h; it reaches the driver through dlopen, so it needs only the toolkit's
# headers to build and loads (and says why it cannot start) on machines without a driver.
if(GL_CUDA)
  find_package(CUDAToolkit QUIET)
endif()
if(GL_CUDA AND CUDAToolkit_FOUND)
  set_target_properties(gl gl_onnxpb PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_library(gpulet_green MODULE ${CMAKE_SOURCE_DIR}/src/backend/cuda/green_module.c)
  set_target_properties(gpulet_green PROPERTIES PREFIX "lib" C_VISIBILITY_PRESET hidden)
  target_include_directories(gpulet_green PRIVATE ${CMAKE_SOURCE_DIR}/src ${CUDAToolkit_INCLUDE_DIRS})
  # Its own copy of gpulet's core (allocation); errors travel back through the host API.
  target_link_libraries(gpulet_green PRIVATE gl ${CMAKE_DL_LIBS} -Wl,--exclude-libs,ALL)
  add_dependencies(gpulet gpulet_green)
  message(STATUS "gpulet: building the green-context module (cuda.h ${CUDAToolkit_VERSION})")
endif()
