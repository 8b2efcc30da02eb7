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
if(AF_TESTS)
  af_require(CMOCKA "cmocka>=1.1" libcmocka-dev)
endif()
