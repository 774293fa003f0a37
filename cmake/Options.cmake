# Compile options for Plumbline's own targets live on one INTERFACE target,
# so generated and third-party code never sees -Werror.
add_library(plumbline_options INTERFACE)
target_compile_options(plumbline_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
# Not -Wnull-dereference: at -O2 GCC 12 reports it inside Asio's inlined headers.
if(PLUMBLINE_WERROR)
  target_compile_options(plumbline_options INTERFACE -Werror)
endif()

if(PLUMBLINE_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(${_san})
  add_link_options(-fsanitize=address,undefined)
endif()

if(PLUMBLINE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "PLUMBLINE_FUZZ needs clang (use the 'fuzz' preset)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
