# NCCL support for the data-parallel hook (include/mixprec/cuda/nccl_hook.hpp).
#
# Included from tests/CMakeLists.txt (`include(mixprecNccl)`, after the CUDA
# test block). When the CUDA tests are built and NCCL is found (nccl.h and
# libnccl, by default in /usr/local/cuda), defines mixprec::nccl (libnccl plus
# its header directory) and the test program mixprec_nccl_tests, registered
# as the CTest test nccl_hook; without a GPU it exits 77 and CTest reports it
# skipped. Without NCCL it says so and does nothing else.
if(NOT MIXPREC_HAVE_CUDA)
  return()
endif()

find_path(MIXPREC_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
find_library(MIXPREC_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
if(NOT MIXPREC_NCCL_INCLUDE_DIR OR NOT MIXPREC_NCCL_LIBRARY)
  message(STATUS "mixprec: NCCL not found (nccl.h, libnccl); the NCCL hook test is not built")
  return()
endif()
message(STATUS "mixprec: NCCL ${MIXPREC_NCCL_LIBRARY}")

if(NOT TARGET mixprec::nccl)
  add_library(mixprec_nccl_interface INTERFACE IMPORTED GLOBAL)
  target_include_directories(mixprec_nccl_interface SYSTEM INTERFACE ${MIXPREC_NCCL_INCLUDE_DIR})
  target_link_libraries(mixprec_nccl_interface INTERFACE ${MIXPREC_NCCL_LIBRARY})
  add_library(mixprec::nccl ALIAS mixprec_nccl_interface)
endif()

mixprec_add_gpu_test(nccl_hook mixprec_nccl_tests ${PROJECT_SOURCE_DIR}/tests/nccl/test_nccl_hook.cu)
target_link_libraries(mixprec_nccl_tests PRIVATE mixprec::nccl)
