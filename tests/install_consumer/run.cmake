# Consumes mixprec the three ways the README shows, building and running
# tests/install_consumer each time:
#   1. find_package: installs the build tree into a fresh prefix (cmake --install --prefix);
#   2. add_subdirectory: the source tree as a subdirectory of the consumer;
#   3. FetchContent: a git clone of the source tree's committed HEAD (skipped
#      without git or outside a git checkout: uncommitted changes are not in it).
file(REMOVE_RECURSE ${WORK_DIR})

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(status)
    message(FATAL_ERROR "${what} failed (${status}):\n${output}")
  endif()
endfunction()

function(build_and_run_consumer way)
  set(build ${WORK_DIR}/build-${way})
  run_step("configuring the consumer (${way})" ${CMAKE_COMMAND} -S ${MIXPREC_SOURCE_DIR}/tests/install_consumer
    -B ${build} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DMIXPREC_CONSUME=${way} ${ARGN})
  run_step("building the consumer (${way})" ${CMAKE_COMMAND} --build ${build} --target consumer)
  execute_process(COMMAND ${build}/consumer RESULT_VARIABLE status OUTPUT_VARIABLE output)
  if(status)
    message(FATAL_ERROR "the consumer (${way}) failed: ${status}: ${output}")
  endif()
  message(STATUS "consumer (${way}) printed: ${output}")
endfunction()

run_step("cmake --install" ${CMAKE_COMMAND} --install ${MIXPREC_BINARY_DIR} --prefix ${WORK_DIR}/prefix)
build_and_run_consumer(find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
build_and_run_consumer(add_subdirectory -DMIXPREC_SOURCE_DIR=${MIXPREC_SOURCE_DIR})

find_program(GIT_EXECUTABLE git)
execute_process(COMMAND ${GIT_EXECUTABLE} -C ${MIXPREC_SOURCE_DIR} rev-parse HEAD RESULT_VARIABLE status
  OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(GIT_EXECUTABLE AND status EQUAL 0)
  build_and_run_consumer(FetchContent -DMIXPREC_GIT_REPOSITORY=${MIXPREC_SOURCE_DIR} -DMIXPREC_GIT_TAG=${head})
else()
  message(STATUS "consumer (FetchContent): not run, ${MIXPREC_SOURCE_DIR} is no git checkout or git is missing")
endif()
