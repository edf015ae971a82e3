import ArgumentParser
import PasslineCLI

@main
struct Entry: AsyncMainProtocol {
    typealias Command = PasslineCommand
}
