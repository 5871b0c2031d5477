# A plain `cmake -S . -B build` on a machine without Catch2, Google Benchmark
# or zlib (hidden here with CMAKE_DISABLE_FIND_PACKAGE_<name>) configures,
# says what it skipped and how to enable it, and installs the headers; asking
# for a part explicitly without its dependency fails, naming the Debian
# package to install.
file(REMOVE_RECURSE ${WORK_DIR})
set(hide_dependencies -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON -DMIXPREC_CUDA=OFF -DCMAKE_CXX_COMPILER=${CXX_COMPILER})

execute_process(COMMAND ${CMAKE_COMMAND} -S ${MIXPREC_SOURCE_DIR} -B ${WORK_DIR}/plain ${hide_dependencies}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(status)
  message(FATAL_ERROR "a plain configure without Catch2, Google Benchmark and zlib failed:\n${output}")
endif()
foreach(expected
    "mixprec: tests skipped: Catch2 (v2 or v3) not found (Debian: apt-get install catch2"
    "mixprec: benchmarks skipped: Google Benchmark not found (Debian: apt-get install libbenchmark-dev"
    "mixprec: the Fashion-MNIST demo is skipped: zlib not found (Debian: apt-get install zlib1g-dev")
  string(FIND "${output}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the plain configure did not say \"${expected}\":\n${output}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${WORK_DIR}/plain --prefix ${WORK_DIR}/prefix
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(status OR NOT EXISTS ${WORK_DIR}/prefix/include/mixprec/mixprec.hpp)
  message(FATAL_ERROR "cmake --install of the plain configure failed (${status}):\n${output}")
endif()
message(STATUS "plain configure without Catch2, Google Benchmark, zlib: configured, skipped each with its package, installed")

foreach(part_and_package "TESTS;apt-get install catch2" "BENCHMARKS;apt-get install libbenchmark-dev"
                         "EXAMPLES;apt-get install zlib1g-dev")
  list(GET part_and_package 0 part)
  list(GET part_and_package 1 package)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${MIXPREC_SOURCE_DIR} -B ${WORK_DIR}/asked-${part} ${hide_dependencies}
    -DMIXPREC_BUILD_${part}=ON RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
  string(FIND "${output}" "${package}" at)
  if(NOT status OR at EQUAL -1)
    message(FATAL_ERROR "-DMIXPREC_BUILD_${part}=ON without its dependency must fail naming \"${package}\"; "
                        "exit ${status}:\n${output}")
  endif()
  message(STATUS "-DMIXPREC_BUILD_${part}=ON without its dependency: an error naming \"${package}\"")
endforeach()
