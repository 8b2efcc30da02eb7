# Compiler flags hang off INTERFACE targets that our own targets link
# PRIVATE, so -Werror and sanitizer flags never leak to anyone else.
add_library(af_warnings INTERFACE)
target_compile_options(af_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes
  -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef
  -fstack-protector-strong -fno-common)
if(AF_WERROR)
  target_compile_options(af_warnings INTERFACE -Werror)
endif()
target_compile_definitions(af_warnings INTERFACE
  _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE
  $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_link_options(af_warnings INTERFACE -Wl,-z,relro,-z,now)

add_library(af_sanitizers INTERFACE)
if(AF_SANITIZE)
  # Fail hard on the first report: a sanitizer finding is a test failure.
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  target_compile_options(af_sanitizers INTERFACE ${_san})
  target_link_options(af_sanitizers INTERFACE ${_san})
endif()
if(AF_FUZZ)
  # Instrument every library for coverage, not only the fuzz entry points,
  # or libFuzzer gets almost no signal from the parsers it feeds.
  target_compile_options(af_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

add_library(af_build INTERFACE)
target_link_libraries(af_build INTERFACE af_warnings af_sanitizers)
