# The warning bar every mixprec translation unit is held to.
set(MIXPREC_WARNINGS -Wall -Wextra -Wpedantic -Werror)

function(mixprec_strict_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${MIXPREC_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)
endfunction()
