# cmake -DIN=FILE -DOUT=FILE.c -DNAME=SYMBOL -P embed.cmake: FILE as a NUL-terminated C array.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${hex}")
get_filename_component(base "${IN}" NAME)
file(WRITE "${OUT}" "/* generated from ${base} by embed.cmake: do not edit */\nconst char ${NAME}[] = {${arr}0x00};\n")
