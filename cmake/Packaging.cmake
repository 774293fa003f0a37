# .deb and .rpm packages for the agent and the collector, made by CPack from
# the install tree: one package per install component.
#
#   plumbline-agent      component "agent":     plumbline-agent
#   plumbline-collector  component "collector": plumbline-collector, plumb
#
# scripts/package.sh is the entry point (it also builds the man pages and the
# compressed changelog, target plumbline-package-files, before running cpack);
# docs/packaging.md describes the result. Everything installed here is
# EXCLUDE_FROM_ALL: it is installed only when a component is asked for by name,
# as CPack does, so a plain `cmake --install` never writes into /etc.

# The packages need the real binaries (the fuzz preset does not build them).
foreach(_target plumbline-agent plumbline-collector plumb)
  if(NOT TARGET ${_target})
    message(STATUS "Packaging: off (target ${_target} is not part of this build)")
    return()
  endif()
endforeach()

set(_pkg_src "${PROJECT_SOURCE_DIR}/packaging")
set(_pkg_gen "${PROJECT_BINARY_DIR}/packaging")
set(PLUMBLINE_PACKAGE_MAINTAINER "Plumbline Maintainers <maintainers@plumbline.example>"
    CACHE STRING "Maintainer field of the .deb and .rpm packages")

# Per package: component, package name, the other Plumbline package (they share
# the plumbline user, /etc/plumbline and /var/lib/plumbline), unit, config
# file, the state directory it writes, and its executables.
set(_agent_package plumbline-agent)
set(_agent_other plumbline-collector)
set(_agent_config agent.yaml)
set(_agent_state_dir /var/lib/plumbline/agent)
set(_agent_programs plumbline-agent)
set(_collector_package plumbline-collector)
set(_collector_other plumbline-agent)
set(_collector_config collector.yaml)
set(_collector_state_dir /var/lib/plumbline)
set(_collector_programs plumbline-collector plumb)

set(_help2man_synopsis_plumbline-agent
    "measures this server and ships the readings to a Plumbline collector")
set(_help2man_synopsis_plumbline-collector
    "receives, stores and serves measurements from Plumbline agents")
set(_help2man_synopsis_plumb "asks a Plumbline collector about agents, services and their value")

# --- Files generated at build time (target plumbline-package-files) ----------
# Not part of ALL: they need help2man and gzip, which only packaging needs.

set(_changelog "${_pkg_src}/changelog")
find_program(PLUMBLINE_HELP2MAN help2man NO_CACHE)
find_program(PLUMBLINE_GZIP gzip NO_CACHE)
find_program(PLUMBLINE_DPKG_PARSECHANGELOG dpkg-parsechangelog NO_CACHE)
# Missing tools fail the package build by name; scripts/package.sh installs them.
foreach(_tool HELP2MAN GZIP)
  if(NOT PLUMBLINE_${_tool})
    string(TOLOWER ${_tool} PLUMBLINE_${_tool})
  endif()
endforeach()

# Reproducible man page dates: the date of the latest changelog entry.
set(_source_date_epoch "")
if(PLUMBLINE_DPKG_PARSECHANGELOG)
  execute_process(
    COMMAND ${PLUMBLINE_DPKG_PARSECHANGELOG} -l "${_changelog}" -S Version
    OUTPUT_VARIABLE _changelog_version OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _changelog_rc ERROR_QUIET)
  execute_process(
    COMMAND ${PLUMBLINE_DPKG_PARSECHANGELOG} -l "${_changelog}" -S Timestamp
    OUTPUT_VARIABLE _source_date_epoch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_changelog_rc EQUAL 0 AND NOT _changelog_version STREQUAL PROJECT_VERSION)
    message(WARNING "packaging/changelog: latest entry is ${_changelog_version}, but the "
                    "project version is ${PROJECT_VERSION}; add a changelog entry")
  endif()
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_changelog}")
set(_man_env "")
if(_source_date_epoch MATCHES "^[0-9]+$")
  set(_man_env "SOURCE_DATE_EPOCH=${_source_date_epoch}")
endif()

set(_package_files "${_pkg_gen}/changelog.gz")
add_custom_command(
  OUTPUT "${_pkg_gen}/changelog.gz"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${_pkg_gen}"
  COMMAND sh -c "'${PLUMBLINE_GZIP}' -9nc '${_changelog}' > '${_pkg_gen}/changelog.gz'"
  DEPENDS "${_changelog}"
  COMMENT "Compressing packaging/changelog"
  VERBATIM)

foreach(_program plumbline-agent plumbline-collector plumb)
  set(_man "${_pkg_gen}/man/${_program}.1.gz")
  list(APPEND _package_files "${_man}")
  add_custom_command(
    OUTPUT "${_man}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${_pkg_gen}/man"
    COMMAND ${CMAKE_COMMAND} -E env ${_man_env}
            sh -c "set -e; '${PLUMBLINE_HELP2MAN}' --no-info --section=1 --name='${_help2man_synopsis_${_program}}' '$<TARGET_FILE:${_program}>' > '${_man}.tmp'; '${PLUMBLINE_GZIP}' -9nc '${_man}.tmp' > '${_man}'; rm -f '${_man}.tmp'"
    DEPENDS ${_program}
    COMMENT "Generating the ${_program}(1) man page with help2man"
    VERBATIM)
endforeach()
# plumb's bash completion, generated from its own command tree.
set(_completion "${_pkg_gen}/completion/plumb")
list(APPEND _package_files "${_completion}")
add_custom_command(
  OUTPUT "${_completion}"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${_pkg_gen}/completion"
  COMMAND sh -c "'$<TARGET_FILE:plumb>' completion bash > '${_completion}'"
  DEPENDS plumb
  COMMENT "Generating plumb's bash completion"
  VERBATIM)
add_custom_target(plumbline-package-files DEPENDS ${_package_files})

# RPM wants its own changelog format; translate the Debian one.
set(_rpm_changelog "")
set(_entry_items "")
file(STRINGS "${_changelog}" _changelog_lines)
foreach(_line IN LISTS _changelog_lines)
  if(_line MATCHES "^[a-z0-9][a-z0-9.+-]* \\(([^)]+)\\)")
    set(_entry_version "${CMAKE_MATCH_1}")
    set(_entry_items "")
  elseif(_line MATCHES "^  \\* (.*)$")
    string(APPEND _entry_items "- ${CMAKE_MATCH_1}\n")
  elseif(_line MATCHES "^    +(.*)$")
    string(APPEND _entry_items "  ${CMAKE_MATCH_1}\n")
  elseif(_line MATCHES "^ -- (.+)  ([A-Z][a-z][a-z]), ([0-9]+) ([A-Z][a-z][a-z]) ([0-9]+) ")
    string(APPEND _rpm_changelog
           "* ${CMAKE_MATCH_2} ${CMAKE_MATCH_4} ${CMAKE_MATCH_3} ${CMAKE_MATCH_5} "
           "${CMAKE_MATCH_1} - ${_entry_version}-1\n${_entry_items}\n")
  endif()
endforeach()
file(WRITE "${_pkg_gen}/rpm-changelog" "${_rpm_changelog}")

# --- Install rules ------------------------------------------------------------

# Files only one package format ships. CPack reads the project config file
# below once per generator; it exports the generator's name, which these
# install-time checks read.
function(_plumbline_install_for_format format component destination mode)
  set(_files "")
  foreach(_file IN LISTS ARGN)
    string(APPEND _files " \"${_file}\"")
  endforeach()
  install(CODE "
    if(\"\$ENV{PLUMBLINE_PACKAGE_FORMAT}\" STREQUAL \"${format}\")
      file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${destination}\" TYPE FILE
           PERMISSIONS ${mode} FILES ${_files})
    endif()"
    COMPONENT ${component} EXCLUDE_FROM_ALL)
endfunction()

set(_mode_0644 OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

foreach(_component agent collector)
  set(_package ${_${_component}_package})
  set(_config ${_${_component}_config})
  set(_unit ${_package}.service)

  # Configuration: /etc/plumbline. Absolute: configuration lives in /etc, not
  # /usr/etc. The deb's postinst makes it 0640 root:plumbline (shipping it so
  # would need the user at unpack time); the rpm ships it that way (%attr).
  install(FILES "${PROJECT_SOURCE_DIR}/configs/${_config}"
          DESTINATION /etc/plumbline PERMISSIONS ${_mode_0644}
          COMPONENT ${_component} EXCLUDE_FROM_ALL)
  # systemd unit: /usr/lib/systemd/system, which is also /lib/systemd/system on
  # Debian 12 (merged /usr); deb-systemd-helper looks in both.
  install(FILES "${_pkg_src}/systemd/${_unit}"
          DESTINATION lib/systemd/system PERMISSIONS ${_mode_0644}
          COMPONENT ${_component} EXCLUDE_FROM_ALL)
  # As dh_strip does: when stripping (CPACK_STRIP_FILES), also drop the
  # compiler's .comment section. Runs after the binaries are installed
  # (install rules run in declaration order, CMP0082).
  foreach(_program IN LISTS _${_component}_programs)
    if(CMAKE_OBJCOPY)
      install(CODE "
        if(CMAKE_INSTALL_DO_STRIP)
          execute_process(COMMAND \"${CMAKE_OBJCOPY}\" --remove-section=.comment
                          \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/${_program}\"
                          COMMAND_ERROR_IS_FATAL ANY)
        endif()"
        COMPONENT ${_component} EXCLUDE_FROM_ALL)
    endif()
    install(FILES "${_pkg_gen}/man/${_program}.1.gz"
            DESTINATION share/man/man1 PERMISSIONS ${_mode_0644}
            COMPONENT ${_component} EXCLUDE_FROM_ALL)
  endforeach()
  if(_component STREQUAL "collector")
    # plumb ships with the collector: its completion, and the Grafana
    # dashboard for teams that scrape /metrics.
    install(FILES "${_completion}"
            DESTINATION share/bash-completion/completions PERMISSIONS ${_mode_0644}
            COMPONENT ${_component} EXCLUDE_FROM_ALL)
    install(FILES "${_pkg_src}/grafana/plumbline-dashboard.json"
            DESTINATION share/plumbline/grafana PERMISSIONS ${_mode_0644}
            COMPONENT ${_component} EXCLUDE_FROM_ALL)
  endif()

  # Debian: changelog and machine-readable copyright in /usr/share/doc; the
  # license text itself is /usr/share/common-licenses/Apache-2.0.
  _plumbline_install_for_format(DEB ${_component} share/doc/${_package} "${_mode_0644}"
    "${_pkg_gen}/changelog.gz" "${_pkg_src}/copyright")
  if(EXISTS "${_pkg_src}/lintian/${_package}.overrides")
    configure_file("${_pkg_src}/lintian/${_package}.overrides"
                   "${_pkg_gen}/lintian/${_package}" COPYONLY)
    _plumbline_install_for_format(DEB ${_component} share/lintian/overrides "${_mode_0644}"
      "${_pkg_gen}/lintian/${_package}")
  endif()
  # RPM: the changelog is in the package header; the license text is shipped,
  # and with the agent the notices of the libraries linked into it (the
  # Debian copyright file, cmake/StaticAgent.cmake).
  set(_licenses "${PROJECT_SOURCE_DIR}/LICENSE")
  if(_component STREQUAL "agent")
    list(APPEND _licenses "${_pkg_src}/copyright")
  endif()
  _plumbline_install_for_format(RPM ${_component} share/licenses/${_package} "${_mode_0644}"
    ${_licenses})

  # Maintainer scripts, from one template per script for both packages.
  set(PKG ${_package})
  set(OTHER_PKG ${_${_component}_other})
  set(UNIT ${_unit})
  set(CONFIG_FILE /etc/plumbline/${_config})
  set(STATE_DIR ${_${_component}_state_dir})
  foreach(_script postinst prerm postrm)
    configure_file("${_pkg_src}/deb/${_script}.in" "${_pkg_gen}/deb/${_package}/${_script}"
                   @ONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                   GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  endforeach()
  configure_file("${_pkg_src}/deb/conffiles.in" "${_pkg_gen}/deb/${_package}/conffiles" @ONLY)
  foreach(_script pre post preun postun)
    configure_file("${_pkg_src}/rpm/${_script}.sh.in" "${_pkg_gen}/rpm/${_package}/${_script}.sh"
                   @ONLY)
  endforeach()
endforeach()
unset(PKG)
unset(OTHER_PKG)
unset(UNIT)
unset(CONFIG_FILE)
unset(STATE_DIR)

# --- CPack ----------------------------------------------------------------------

file(WRITE "${_pkg_gen}/CPackProjectConfig.cmake"
     "# Generated by cmake/Packaging.cmake; read by CPack once per generator.\n"
     "set(ENV{PLUMBLINE_PACKAGE_FORMAT} \"\${CPACK_GENERATOR}\")\n"
     "# CPackDeb would prepend this project-wide summary to each package's own.\n"
     "if(CPACK_GENERATOR STREQUAL \"DEB\")\n"
     "  unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)\n"
     "endif()\n")
set(CPACK_PROJECT_CONFIG_FILE "${_pkg_gen}/CPackProjectConfig.cmake")

set(CPACK_GENERATOR DEB RPM)
set(CPACK_SOURCE_GENERATOR TXZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build/" "/\\\\.demo/" "/node_modules/")
set(CPACK_PACKAGE_NAME plumbline)
set(CPACK_PACKAGE_VENDOR "Plumbline")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${PLUMBLINE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/packages")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Units and configuration have fixed paths: not a relocatable RPM.
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_THREADS 2)

set(CPACK_COMPONENTS_ALL agent collector)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_COMPONENT_AGENT_DISPLAY_NAME "Plumbline agent")
set(CPACK_COMPONENT_COLLECTOR_DISPLAY_NAME "Plumbline collector and plumb CLI")

set(_agent_summary "host and service-level measurement agent for Plumbline")
set(_collector_summary "collector, storage and query service for Plumbline")
set(_about_plumbline
    "Plumbline maps technical measurements onto the business services they
serve and turns them into business-value indicators: availability against
objectives, the impact of incidents, and what IT costs each business unit.")
set(_agent_details
    "plumbline-agent reads CPU, memory and other host figures from /proc at a
fixed interval and ships them to a Plumbline collector over gRPC. It runs
as the unprivileged system user plumbline under a hardened systemd unit.")
set(_collector_details
    "plumbline-collector receives measurements from Plumbline agents over gRPC,
stores them in an embedded SQLite database in /var/lib/plumbline and
answers queries. It runs as the unprivileged system user plumbline under a
hardened systemd unit. The package also contains plumb, the command-line
client for SREs and operators.")

# Debian
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SOURCE plumbline)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Native Debian version (no revision): the changelog is changelog.gz.
set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_DEBIAN_AGENT_PACKAGE_SUGGESTS plumbline-collector)

# RPM
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "Apache-2.0")
set(CPACK_RPM_CHANGELOG_FILE "${_pkg_gen}/rpm-changelog")
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /usr/lib/systemd /usr/lib/systemd/system /usr/share/man /usr/share/man/man1
    /usr/share/licenses)
# Both packages would otherwise own the same /usr/lib/.build-id links.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")

foreach(_component agent collector)
  string(TOUPPER ${_component} _C)
  set(_package ${_${_component}_package})
  set(CPACK_DEBIAN_${_C}_PACKAGE_NAME ${_package})
  set(CPACK_DEBIAN_${_C}_DESCRIPTION
      "${_${_component}_summary}\n${_about_plumbline}\n\n${_${_component}_details}")
  # useradd, groupadd, userdel: the maintainer scripts create the user;
  # /bin/kill (procps): the units' ExecReload sends SIGHUP.
  set(CPACK_DEBIAN_${_C}_PACKAGE_DEPENDS "passwd, procps")
  set(CPACK_DEBIAN_${_C}_PACKAGE_CONTROL_EXTRA
      "${_pkg_gen}/deb/${_package}/postinst" "${_pkg_gen}/deb/${_package}/prerm"
      "${_pkg_gen}/deb/${_package}/postrm" "${_pkg_gen}/deb/${_package}/conffiles")

  set(CPACK_RPM_${_C}_PACKAGE_NAME ${_package})
  set(CPACK_RPM_${_C}_FILE_NAME RPM-DEFAULT)
  set(CPACK_RPM_${_C}_PACKAGE_SUMMARY "${_${_component}_summary}")
  set(CPACK_RPM_${_C}_PACKAGE_DESCRIPTION
      "${_about_plumbline}\n\n${_${_component}_details}")
  set(CPACK_RPM_${_C}_PACKAGE_REQUIRES_PRE "/usr/sbin/useradd, /usr/sbin/groupadd, /usr/bin/getent")
  set(CPACK_RPM_${_C}_PACKAGE_REQUIRES "/usr/bin/kill")
  set(CPACK_RPM_${_C}_PRE_INSTALL_SCRIPT_FILE "${_pkg_gen}/rpm/${_package}/pre.sh")
  set(CPACK_RPM_${_C}_POST_INSTALL_SCRIPT_FILE "${_pkg_gen}/rpm/${_package}/post.sh")
  set(CPACK_RPM_${_C}_PRE_UNINSTALL_SCRIPT_FILE "${_pkg_gen}/rpm/${_package}/preun.sh")
  set(CPACK_RPM_${_C}_POST_UNINSTALL_SCRIPT_FILE "${_pkg_gen}/rpm/${_package}/postun.sh")
  set(CPACK_RPM_${_C}_USER_FILELIST
      "%dir %attr(0755,root,root) /etc/plumbline"
      "%config(noreplace) %attr(0640,root,plumbline) /etc/plumbline/${_${_component}_config}"
      "%license /usr/share/licenses/${_package}/LICENSE")
  if(_component STREQUAL "agent")
    list(APPEND CPACK_RPM_${_C}_USER_FILELIST "%license /usr/share/licenses/${_package}/copyright")
  endif()
endforeach()

include(CPack)
