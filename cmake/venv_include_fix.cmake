# Given as CMAKE_PROJECT_INCLUDE when building gesture_ros_msgs against the ROS 2 PyPI wheels.
# The wheels' imported targets (std_msgs::std_msgs__rosidl_generator_py, ...) carry include
# directories from the machine that built them (/opt/python/cp311-cp311/include/python3.11 and a
# numpy include under it). This replaces those entries, in every directory's imported targets,
# with this interpreter's Python and numpy include directories once all targets are known.
# Not needed (and harmless) on a regular ROS 2 install.
cmake_minimum_required(VERSION 3.21)

if(NOT Python3_EXECUTABLE)
  find_program(Python3_EXECUTABLE NAMES python3 python REQUIRED)
endif()
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import sysconfig; print(sysconfig.get_paths()['include'])"
  OUTPUT_VARIABLE _gr_py_include OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import numpy; print(numpy.get_include())"
  OUTPUT_VARIABLE _gr_np_include OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)

function(_gr_fix_dir dir)
  get_property(_targets DIRECTORY "${dir}" PROPERTY IMPORTED_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_incs ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _incs)
      continue()
    endif()
    set(_new "")
    set(_changed FALSE)
    foreach(_i IN LISTS _incs)
      if(NOT EXISTS "${_i}" AND _i MATCHES "numpy")
        list(APPEND _new "${_gr_np_include}")
        set(_changed TRUE)
      elseif(NOT EXISTS "${_i}" AND _i MATCHES "include/python3")
        list(APPEND _new "${_gr_py_include}")
        set(_changed TRUE)
      else()
        list(APPEND _new "${_i}")
      endif()
    endforeach()
    if(_changed)
      list(REMOVE_DUPLICATES _new)
      set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new}")
    endif()
  endforeach()
  get_property(_subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(_s IN LISTS _subdirs)
    _gr_fix_dir("${_s}")
  endforeach()
endfunction()

function(_gr_fix_all)
  _gr_fix_dir("${CMAKE_SOURCE_DIR}")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _gr_fix_all)
