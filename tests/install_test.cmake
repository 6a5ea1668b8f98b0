# The "install" test (cmake -P): install the build into a fresh prefix, configure and build
# tests/consumer against it with find_package(krun), and run the consumer on a fixture.
# Inputs: BUILD_DIR, WORK_DIR, CONSUMER_DIR, MODELS_DIR, GENERATOR, BUILD_TYPE.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: ${what} failed (${rc}): ${ARGN}")
  endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/consumer-build)
file(REMOVE_RECURSE ${WORK_DIR})

run_step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${BUILD_TYPE})
foreach(installed include/krun/krun.h bin/krun)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "install test: ${prefix}/${installed} was not installed")
  endif()
endforeach()

run_step("configuring the consumer" ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${consumer_build} -G ${GENERATOR}
         -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_PREFIX_PATH=${prefix})
run_step("building the consumer" ${CMAKE_COMMAND} --build ${consumer_build} --config ${BUILD_TYPE})

# The digits fixture when present, otherwise the first fixture.
file(GLOB models ${MODELS_DIR}/*digits*/model.json)
if(NOT models)
  file(GLOB models ${MODELS_DIR}/*/model.json)
endif()
if(NOT models)
  message(FATAL_ERROR "install test: no fixture model.json under ${MODELS_DIR}")
endif()
list(SORT models)
list(GET models 0 model)
find_program(consumer consumer PATHS ${consumer_build} ${consumer_build}/${BUILD_TYPE} NO_DEFAULT_PATH REQUIRED)
run_step("running the consumer on ${model}" ${consumer} ${model})
run_step("running the installed CLI on ${model}" ${prefix}/bin/krun ${model})
