# The warning bar every mixprec translation unit is held to — the flags that
# C++ training frameworks build with. The library's headers are included with
# -I (not as system headers) by the tests, examples, benchmarks and the
# header self-containment check, so every header is held to them too.
set(MIXPREC_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
  -Wcast-qual -Wdouble-promotion -Werror)

function(mixprec_strict_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${MIXPREC_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)
endfunction()
