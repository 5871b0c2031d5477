# Installs mixprec from the build tree into a fresh prefix, then configures and
# builds tests/install_consumer against it with find_package(mixprec CONFIG).
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${MIXPREC_BINARY_DIR} --prefix ${WORK_DIR}/prefix
  RESULT_VARIABLE status)
if(status)
  message(FATAL_ERROR "cmake --install failed: ${status}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${MIXPREC_SOURCE_DIR}/tests/install_consumer -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_CXX_COMPILER=${CXX_COMPILER} RESULT_VARIABLE status)
if(status)
  message(FATAL_ERROR "configuring the consumer against the installed package failed: ${status}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE status)
if(status)
  message(FATAL_ERROR "building the consumer failed: ${status}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE status OUTPUT_VARIABLE output)
message(STATUS "consumer printed: ${output}")
if(status)
  message(FATAL_ERROR "the consumer failed: ${status}")
endif()
