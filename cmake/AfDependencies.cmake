# Every dependency comes from a Debian 12 package. When one is missing the
# configure step stops and names the package to install (deploy/deps.sh
# installs them all).
find_package(PkgConfig REQUIRED)

function(af_require target module package)
  pkg_check_modules(${target} IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR
      "${module} not found: install the Debian package '${package}' "
      "(or run deploy/deps.sh)")
  endif()
endfunction()

af_require(OPENSSL "openssl>=3.0" libssl-dev)
af_require(JANSSON "jansson>=2.13" libjansson-dev)
af_require(CURL "libcurl>=7.88" libcurl4-openssl-dev)
af_require(NGHTTP2 "libnghttp2>=1.52" libnghttp2-dev)
af_require(HIREDIS "hiredis>=0.14" libhiredis-dev)
af_require(MHD "libmicrohttpd>=0.9.75" libmicrohttpd-dev)
af_require(CJOSE "cjose>=0.6" libcjose-dev)
af_require(ARGON2 "libargon2" libargon2-dev)
af_require(QRENCODE "libqrencode" libqrencode-dev)

# libunistring ships no pkg-config file: its header and library, found
# by name, as the imported target Unistring::Unistring.
find_path(UNISTRING_INCLUDE_DIR uninorm.h)
find_library(UNISTRING_LIBRARY unistring)
if(NOT UNISTRING_INCLUDE_DIR OR NOT UNISTRING_LIBRARY)
  message(FATAL_ERROR
    "libunistring not found: install the Debian package 'libunistring-dev' "
    "(or run deploy/deps.sh)")
endif()
add_library(Unistring::Unistring UNKNOWN IMPORTED GLOBAL)
set_target_properties(Unistring::Unistring PROPERTIES
  IMPORTED_LOCATION "${UNISTRING_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${UNISTRING_INCLUDE_DIR}")
if(AF_TESTS)
  af_require(CMOCKA "cmocka>=1.1" libcmocka-dev)
endif()
