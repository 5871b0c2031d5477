#!/usr/bin/env bash
# Every code block of README.md is compiled and run, or checked, so a snippet
# can never again throw or drift from the code:
#   ```cpp    compiled (C++17, -Wall -Wextra -Wpedantic -Werror) and run: the
#             block's #include lines go to file scope, the rest into main();
#             a run that throws or exits non-zero fails the test.
#   ```cmake  must appear verbatim in tests/install_consumer/CMakeLists.txt,
#             which the install_and_consume test configures and builds.
#   other     must carry a `skip` directive saying why (shell commands that
#             this suite runs elsewhere, a directory listing).
# Directives are HTML comments (invisible on GitHub) on the lines right above
# the opening fence:
#   <!-- readme-test prelude: CODE -->  code put at the start of main() (the
#                                       buffers and values a snippet assumes)
#   <!-- readme-test check: EXPR -->    the program exits 1 unless EXPR holds
#                                       (the values the snippet's comments claim)
#   <!-- readme-test cuda -->           device code: compiled by nvcc for
#                                       sm_90a (not run; no GPU here), skipped
#                                       without nvcc
#   <!-- readme-test skip: REASON -->   not compiled; REASON is printed
#   bash test_readme_blocks.sh SOURCE_DIR CXX [NVCC]
set -uo pipefail
source_dir=$1
cxx=$2
nvcc=${3:-}
readme=$source_dir/README.md
consumer=$source_dir/tests/install_consumer/CMakeLists.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
blocks=0

fail() {
  printf 'FAIL: %s\n' "$*"
  failures=$((failures + 1))
}

# One block: $1 language, $2 first line number, $3 the block, $4 the
# directives (one a line: "prelude: ...", "check: ...", "cuda", "skip: ...").
check_block() {
  local language=$1 line=$2 body=$3 directives=$4
  local name="README.md:$line ($language)"
  local skip prelude checks cuda=0
  skip=$(printf '%s\n' "$directives" | sed -n 's/^skip: //p')
  prelude=$(printf '%s\n' "$directives" | sed -n 's/^prelude: //p')
  checks=$(printf '%s\n' "$directives" | sed -n 's/^check: //p')
  printf '%s\n' "$directives" | grep -qx cuda && cuda=1
  blocks=$((blocks + 1))
  if [ -n "$skip" ]; then
    echo "skip: $name: $skip"
    return
  fi
  case "$language" in
    cpp)
      local tu=$work/block_$line
      {
        echo "// $name"
        echo "#include <cstddef>"
        echo "#include <cstdint>"
        echo "#include <vector>"
        printf '%s\n' "$body" | grep -E '^[[:space:]]*#include'
        echo "int main() {"
        [ -n "$prelude" ] && printf '%s\n' "$prelude"
        printf '%s\n' "$body" | grep -vE '^[[:space:]]*#include'
        [ -n "$checks" ] && printf '%s\n' "$checks" | while IFS= read -r expression; do
          printf '  if (!(%s)) { std::fprintf(stderr, "README check failed: %%s\\n", "%s"); return 1; }\n' \
            "$expression" "$(printf '%s' "$expression" | sed 's/\\/\\\\/g; s/"/\\"/g')"
        done
        echo "  return 0;"
        echo "}"
      } >"$tu.body"
      # std::fprintf for the checks; unused values are fine in a snippet.
      { echo "#include <cstdio>"; cat "$tu.body"; } >"$tu.src"
      if [ "$cuda" -eq 1 ]; then
        if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
          echo "skip: $name: device code, and nvcc is not installed"
          return
        fi
        cp "$tu.src" "$tu.cu"
        if ! "$nvcc" -std=c++17 -arch=sm_90a -Werror=all-warnings -I "$source_dir/include" -c "$tu.cu" -o "$tu.o" \
          >"$tu.log" 2>&1; then
          fail "$name: nvcc cannot compile it:"
          sed -n '1,40p' "$tu.log"
          nl -ba "$tu.cu"
          return
        fi
        echo "ok:   $name: compiled by nvcc for sm_90a (device code: not run without a GPU)"
        return
      fi
      cp "$tu.src" "$tu.cpp"
      if ! "$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror -Wno-unused-variable -Wno-unused-but-set-variable \
        -I "$source_dir/include" "$tu.cpp" -o "$tu" >"$tu.log" 2>&1; then
        fail "$name: does not compile:"
        sed -n '1,40p' "$tu.log"
        nl -ba "$tu.cpp"
        return
      fi
      if ! "$tu" >"$tu.out" 2>&1; then
        fail "$name: compiles but fails when run:"
        cat "$tu.out"
        nl -ba "$tu.cpp"
        return
      fi
      echo "ok:   $name: compiled and run$([ -n "$checks" ] && echo ", $(printf '%s\n' "$checks" | wc -l) check(s) held")"
      ;;
    cmake)
      if [[ "$(cat "$consumer")" != *"$body"* ]]; then
        fail "$name: not found verbatim in tests/install_consumer/CMakeLists.txt (the project install_and_consume builds):"
        printf '%s\n' "$body"
        return
      fi
      echo "ok:   $name: verbatim in tests/install_consumer/CMakeLists.txt (built by install_and_consume)"
      ;;
    *)
      fail "$name: a '$language' block with no test: add <!-- readme-test skip: REASON --> above it, or test it"
      ;;
  esac
}

in_block=0
directives=""
pending=""
line_number=0
while IFS= read -r line || [ -n "$line" ]; do
  line_number=$((line_number + 1))
  if [ "$in_block" -eq 0 ]; then
    if [[ "$line" =~ ^\<!--\ readme-test\ (.*)\ --\>$ ]]; then
      pending+="${BASH_REMATCH[1]}"$'\n'
    elif [[ "$line" =~ ^\`\`\`(.*)$ ]]; then
      in_block=1
      language=${BASH_REMATCH[1]:-none}
      start=$((line_number + 1))
      body=""
      directives=$pending
      pending=""
    else
      pending=""
    fi
  elif [ "$line" = '```' ]; then
    in_block=0
    check_block "$language" "$start" "${body%$'\n'}" "${directives%$'\n'}"
  else
    body+="$line"$'\n'
  fi
done <"$readme"

[ "$in_block" -eq 0 ] || fail "README.md: a code block opened at line $start is never closed"
[ "$blocks" -gt 0 ] || fail "README.md: no code block found (wrong path?)"
if [ "$failures" -ne 0 ]; then
  echo "$failures of $blocks README block(s) failed"
  exit 1
fi
echo "every one of the $blocks README blocks is tested or says why not"
