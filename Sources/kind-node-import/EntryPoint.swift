import Commands

@main
struct EntryPoint {
    static func main() {
        RootCommand.main()
    }
}
