# libtapegrad: one library from the folders' objects (autograd, datasets, nn, optim, the checkpoint
# container), built static and shared, and installed with its public headers, a pkg-config file
# and a CMake package (find_package(tapegrad) -> tapegrad::tapegrad, tapegrad::tapegrad_static).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TG_LIB_PARTS tg_autograd tg_datasets tg_nn tg_optim tg_ckpt)
set(TG_LIB_OBJECTS)
foreach(part ${TG_LIB_PARTS})
  list(APPEND TG_LIB_OBJECTS $<TARGET_OBJECTS:${part}>)
endforeach()

# Headers are installed under include/tapegrad/ with the source tree's layout, so that their
# "autograd/autograd.h" includes resolve the same way inside and outside the tree.
set(TG_INCLUDE_SUBDIR ${CMAKE_INSTALL_INCLUDEDIR}/tapegrad)
foreach(kind static shared)
  string(TOUPPER ${kind} KIND)
  add_library(tapegrad_${kind} ${KIND} ${TG_LIB_OBJECTS})
  target_link_libraries(tapegrad_${kind} PUBLIC Threads::Threads m ZLIB::ZLIB)
  target_include_directories(tapegrad_${kind} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}> $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/generated>
    $<INSTALL_INTERFACE:${TG_INCLUDE_SUBDIR}>)
  if(TG_SANITIZE)   # a sanitized library needs the sanitizer runtimes in whatever links it
    target_link_options(tapegrad_${kind} INTERFACE -fsanitize=address,undefined)
  endif()
  set_target_properties(tapegrad_${kind} PROPERTIES OUTPUT_NAME tapegrad
                        ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
endforeach()
set_target_properties(tapegrad_shared PROPERTIES EXPORT_NAME tapegrad
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
set_target_properties(tapegrad_static PROPERTIES EXPORT_NAME tapegrad_static)
add_library(tapegrad::tapegrad ALIAS tapegrad_shared)
add_library(tapegrad::tapegrad_static ALIAS tapegrad_static)

# The public headers: what tapegrad.h includes, and nothing private (internal.h, kernels/, ...).
set(TG_PUBLIC_HEADERS
  tapegrad.h
  autograd/status.h autograd/tokens.h autograd/pool.h autograd/autograd.h autograd/gradcheck.h
  autograd/ops/op_list.h
  nn/nn.h nn/blocks.h
  optim/optim.h
  datasets/datasets.h
  train/ckpt/ckpt_file.h train/ckpt/params_file.h)
foreach(h ${TG_PUBLIC_HEADERS})
  get_filename_component(dir ${h} DIRECTORY)
  install(FILES ${h} DESTINATION ${TG_INCLUDE_SUBDIR}/${dir})
endforeach()
install(FILES ${CMAKE_BINARY_DIR}/generated/autograd/build_config.h
        DESTINATION ${TG_INCLUDE_SUBDIR}/autograd)

install(TARGETS tapegrad_static tapegrad_shared EXPORT tapegradTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tapegrad RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT tapegradTargets NAMESPACE tapegrad::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
configure_package_config_file(cmake/tapegradConfig.cmake.in
  ${CMAKE_BINARY_DIR}/tapegradConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/tapegradConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/tapegradConfig.cmake ${CMAKE_BINARY_DIR}/tapegradConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)

# pkg-config: paths relative to the .pc file, so the install can be moved (cmake --install
# --prefix P installs anywhere).
if(TG_SANITIZE)
  set(TG_PC_SANITIZE "-fsanitize=address,undefined")
endif()
file(RELATIVE_PATH TG_PC_UP /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" TG_PC_UP "${TG_PC_UP}")
configure_file(cmake/tapegrad.pc.in ${CMAKE_BINARY_DIR}/tapegrad.pc @ONLY)
# tapegrad-static.pc: `pkg-config --static tapegrad` only adds the private libraries, and -ltapegrad
# still takes the .so beside the .a
configure_file(cmake/tapegrad-static.pc.in ${CMAKE_BINARY_DIR}/tapegrad-static.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/tapegrad.pc ${CMAKE_BINARY_DIR}/tapegrad-static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
