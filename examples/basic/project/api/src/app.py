from lib.greet import greet
print(greet("api"))
