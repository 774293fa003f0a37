# PLUMBLINE_STATIC_AGENT: plumbline-agent links gRPC, protobuf, Abseil, re2,
# c-ares, upb and yaml-cpp from their static archives (Debian's -dev packages
# ship them next to the shared libraries), with unused sections dropped. On an
# agent host nothing else maps those libraries, so the agent paid for whole
# shared objects (their relocations, PLTs and every page the loader and the
# fault-around window touched); linked in, it maps only the objects it uses.
# Measured in docs/benchmarks.md, "Agent footprint".
#
# Everything else stays shared: glibc, libstdc++ and libgcc_s, OpenSSL and
# zlib (security updates come from the distribution, and every other process
# on the host shares their pages), and spdlog, fmt and cpp-httplib, which
# Debian ships as shared libraries only (they need libstdc++ and OpenSSL
# shared, so those could not be static anyway).
#
# Only the agent executable changes: plumbline_common and plumbline_proto name
# their gRPC, protobuf, Abseil and yaml-cpp dependencies through
# plumbline_link_shared_or_static(), which resolves to the static archives for
# an executable with the target property PLUMBLINE_STATIC_DEPS and to the shared
# libraries for everything else (collector, plumb, tests), in the same build.

if(PLUMBLINE_STATIC_AGENT AND (PLUMBLINE_SANITIZE OR PLUMBLINE_FUZZ))
  message(FATAL_ERROR "PLUMBLINE_STATIC_AGENT is for release and package builds; "
                      "sanitizer and fuzz builds link the agent dynamically")
endif()

# plumbline_link_shared_or_static(<target> <PUBLIC|PRIVATE|INTERFACE> <imported target>...)
# Links <target> to each shared library, or to plumbline_static_deps (all of
# them, static) in an executable that sets PLUMBLINE_STATIC_DEPS.
function(plumbline_link_shared_or_static target scope)
  foreach(_dep IN LISTS ARGN)
    if(PLUMBLINE_STATIC_AGENT)
      target_link_libraries(${target} ${scope}
        "$<IF:$<BOOL:$<TARGET_PROPERTY:PLUMBLINE_STATIC_DEPS>>,plumbline_static_deps,${_dep}>")
    else()
      target_link_libraries(${target} ${scope} ${_dep})
    endif()
  endforeach()
endfunction()

if(NOT PLUMBLINE_STATIC_AGENT)
  return()
endif()

# The archives, in link order, from the packages' own pkg-config files
# (`pkg-config --static --libs grpc++ protobuf yaml-cpp`): gRPC's internal
# dependencies and the forty-odd Abseil libraries change between releases.
pkg_check_modules(PLUMBLINE_STATIC_PC REQUIRED grpc++ protobuf yaml-cpp)
set(_plumbline_shared_only ssl crypto z dl m rt pthread atomic)
set(_plumbline_archives "")
set(_plumbline_shared "")
foreach(_lib IN LISTS PLUMBLINE_STATIC_PC_STATIC_LIBRARIES)
  if(_lib IN_LIST _plumbline_shared_only)
    list(APPEND _plumbline_shared ${_lib})
    continue()
  endif()
  find_library(PLUMBLINE_STATIC_LIB_${_lib} NAMES lib${_lib}.a
               HINTS ${PLUMBLINE_STATIC_PC_STATIC_LIBRARY_DIRS})
  if(NOT PLUMBLINE_STATIC_LIB_${_lib})
    message(FATAL_ERROR "PLUMBLINE_STATIC_AGENT: lib${_lib}.a not found (pkg-config lists "
                        "-l${_lib} for grpc++, protobuf or yaml-cpp; its -dev package ships it)")
  endif()
  list(APPEND _plumbline_archives ${PLUMBLINE_STATIC_LIB_${_lib}})
endforeach()
list(REMOVE_DUPLICATES _plumbline_archives)
list(REMOVE_DUPLICATES _plumbline_shared)
list(REMOVE_ITEM _plumbline_shared pthread)  # Threads::Threads below
list(LENGTH _plumbline_archives _count)
message(STATUS "Static agent: ${_count} archives (gRPC, protobuf, Abseil, yaml-cpp and "
               "their dependencies); shared: ${_plumbline_shared}")

add_library(plumbline_static_deps INTERFACE)
# gRPC and Abseil reference each other across archives: one group, rescanned
# until nothing new resolves, instead of a hand-kept order.
list(JOIN _plumbline_archives "," _archives_csv)
target_link_libraries(plumbline_static_deps INTERFACE
  "$<LINK_GROUP:RESCAN,${_archives_csv}>" ${_plumbline_shared} Threads::Threads)
# The same headers as the shared libraries' targets (both packages install them
# once, under /usr/include).
foreach(_target gRPC::grpc++ protobuf::libprotobuf absl::status absl::statusor absl::strings
                yaml-cpp)
  if(TARGET ${_target})
    target_include_directories(plumbline_static_deps SYSTEM INTERFACE
      $<TARGET_PROPERTY:${_target},INTERFACE_INCLUDE_DIRECTORIES>)
  endif()
endforeach()

# The link: drop every section nothing references (--gc-sections; the agent's
# own code is compiled with one section per function and object,
# PLUMBLINE_STATIC_AGENT_COMPILE_OPTIONS); DT_RELR relative relocations
# (-z pack-relative-relocs, glibc 2.36, binutils 2.38): 3 KiB instead of the
# ~350 KiB of .rela.dyn entries the loader reads at every start; no DT_NEEDED
# for a shared library nothing uses (--as-needed). Not -Wl,-O1: GNU ld applies
# it to shared libraries only.
target_link_options(plumbline_static_deps INTERFACE LINKER:--gc-sections LINKER:--as-needed)
include(CheckLinkerFlag)
check_linker_flag(CXX "LINKER:-z,pack-relative-relocs" PLUMBLINE_HAVE_PACK_RELATIVE_RELOCS)
if(PLUMBLINE_HAVE_PACK_RELATIVE_RELOCS)
  target_link_options(plumbline_static_deps INTERFACE LINKER:-z,pack-relative-relocs)
endif()
set(PLUMBLINE_STATIC_AGENT_COMPILE_OPTIONS -ffunction-sections -fdata-sections)
