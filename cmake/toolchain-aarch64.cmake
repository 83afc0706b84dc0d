# Cross-compiling difftrace for 64-bit Arm (a BlueField DPU's Arm cores) with Debian's cross toolchain
# (crossbuild-essential-arm64: aarch64-linux-gnu-gcc).
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DCMAKE_SYSROOT=<arm64 root> -DDFT_NIC_ONLY=ON
#
# CMAKE_SYSROOT: an arm64 root file system holding the -dev packages (what scripts/build-arm64.sh
# assembles from Debian's arm64 packages, or a copy of the DPU image's root). Without it the arm64
# libraries are expected where Debian multiarch installs them (libfoo-dev:arm64 →
# /usr/lib/aarch64-linux-gnu), which works for every dependency but DPDK (docs/deploy-bluefield.md).
#
# pkg-config reads the arm64 .pc files only, so libdpdk.pc gives the Arm flags (-march=armv8-a+crc),
# never the x86 ones. Programs (protoc-c) are the build machine's. Tests run under qemu-user
# (CMAKE_CROSSCOMPILING_EMULATOR) when qemu-aarch64-static or qemu-aarch64 is installed, so
# `ctest` works unchanged in the cross build tree.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(DFT_CROSS_TRIPLE aarch64-linux-gnu)

find_program(DFT_CROSS_CC NAMES ${DFT_CROSS_TRIPLE}-gcc)
if(NOT DFT_CROSS_CC)
  message(FATAL_ERROR "${DFT_CROSS_TRIPLE}-gcc not found: apt-get install crossbuild-essential-arm64")
endif()
set(CMAKE_C_COMPILER ${DFT_CROSS_CC})

if(CMAKE_SYSROOT)
  set(CMAKE_FIND_ROOT_PATH ${CMAKE_SYSROOT})
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} ${CMAKE_SYSROOT})
  # shared libraries that the named ones need (librte_* → libnuma, libbsd, libibverbs ...)
  set(_dft_libdirs ${CMAKE_SYSROOT}/lib/${DFT_CROSS_TRIPLE} ${CMAKE_SYSROOT}/usr/lib/${DFT_CROSS_TRIPLE})
  list(JOIN _dft_libdirs ":" _dft_rpath_link)
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_dft_rpath_link}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_dft_rpath_link}")
  set(_dft_qemu_root ${CMAKE_SYSROOT})
else()
  set(_dft_qemu_root /usr/${DFT_CROSS_TRIPLE})
endif()
set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/${DFT_CROSS_TRIPLE}/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_LIBRARY_ARCHITECTURE ${DFT_CROSS_TRIPLE})

find_program(DFT_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(DFT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${DFT_QEMU_AARCH64} -L ${_dft_qemu_root})
endif()
