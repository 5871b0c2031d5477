# Runs Doxygen over include/mixprec (docs/Doxyfile) into OUTPUT_DIR and fails,
# listing every warning, if any public name is undocumented or a comment is
# malformed. Arguments: -DDOXYGEN=... -DSOURCE_DIR=... -DOUTPUT_DIR=...
file(REMOVE_RECURSE ${OUTPUT_DIR})
file(MAKE_DIRECTORY ${OUTPUT_DIR})
set(ENV{MIXPREC_DOCS_DIR} ${OUTPUT_DIR})
execute_process(COMMAND ${DOXYGEN} docs/Doxyfile WORKING_DIRECTORY ${SOURCE_DIR}
  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
set(warnings "")
if(EXISTS ${OUTPUT_DIR}/warnings.log)
  file(READ ${OUTPUT_DIR}/warnings.log warnings)
endif()
if(NOT result EQUAL 0 OR NOT warnings STREQUAL "")
  message(FATAL_ERROR "mixprec: the API reference has warnings (document every public name with ///):\n${warnings}${output}")
endif()
message(STATUS "mixprec: API reference written to ${OUTPUT_DIR}/html/index.html")
